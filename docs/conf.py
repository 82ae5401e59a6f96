"""Sphinx configuration of the bayescale documentation site (``make docs``; docs/README.md says how it is built).

MyST markdown pages (myst-nb), the notebooks of ``notebooks/`` through the symlink ``docs/examples/notebooks``,
and an API reference generated from the docstrings (autodoc + autosummary + napoleon, numpydoc style). Built
with warnings as errors; ``tests/test_docs.py`` builds it in the test suite.
"""

from __future__ import annotations

import os
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# One JAX device is plenty to import the package for autodoc; set before bayescale is imported.
os.environ.setdefault("BAYESCALE_HOST_DEVICES", "1")

import bayescale  # noqa: E402
from bayescale import api  # noqa: E402

project = "bayescale"
author = "bayescale developers"
copyright = "bayescale developers"
release = version = bayescale.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]

# --- MyST and notebooks -------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3
# The notebooks are committed without outputs (tests/test_notebooks.py runs them at a tiny budget). The site
# shows them with outputs: "cache" executes each notebook once (jupyter-cache, in docs/_build/.jupyter_cache)
# and reuses the outputs until the notebook's code changes; `make docs NB_EXECUTION=off` (and the test suite's
# docs build) renders them without executing anything.
nb_execution_mode = "cache"
nb_execution_timeout = 1800
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# --- API reference -------------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True

# --- HTML -------------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"bayescale {version}"
html_theme_options = {
    "github_url": "https://github.com/bayescale/bayescale",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []


def _check_api_reference(app) -> None:
    """Every name of ``bayescale.api.__all__`` appears in docs/api/index.md, so the reference cannot drift."""
    text = (pathlib.Path(app.srcdir) / "api" / "index.md").read_text()
    words = set(re.findall(r"[A-Za-z_][A-Za-z_0-9.]*", text)) | set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text))
    def named(n: str) -> bool:
        module_name = getattr(getattr(api, n), "__name__", n)
        return bool({n, module_name, module_name.removeprefix("bayescale.")} & words)

    missing = [n for n in api.__all__ if not named(n)]
    if missing:
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "bayescale.api.__all__ names missing from docs/api/index.md: %s; add each to its section there",
            ", ".join(missing))


_TOP_LEVEL = {id(getattr(api, n)) for n in api.__all__}


def _skip_top_level_classes(app, what, name, obj, skip, options):
    """A module page (``bayescale.model.law_registry``, ``bayescale.errors``) leaves out the classes exported at the top
    level: they are documented once, as ``bayescale.<name>``."""
    if what == "module" and isinstance(obj, type) and id(obj) in _TOP_LEVEL:
        return True
    return None


def setup(app):
    app.connect("builder-inited", _check_api_reference)
    app.connect("autodoc-skip-member", _skip_top_level_classes)
