"""The documentation site builds with warnings as errors, so it cannot drift from the code.

Sphinx runs in a subprocess on a copy of docs/ (autosummary writes its stub pages into the source tree), with
the notebooks rendered as committed (``nb_execution_mode=off``: tests/test_notebooks.py executes them), as
``make docs NB_EXECUTION=off`` does. A broken cross-reference, a page missing from every toctree, a docstring
Sphinx cannot parse or a name of ``bayescale.api.__all__`` left out of docs/api/index.md fails the build. The
python blocks of the pages run in tests/test_readme.py.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")
pytest.importorskip("pydata_sphinx_theme")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_docs_build_with_warnings_as_errors(tmp_path):
    src = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", src, symlinks=True, ignore=shutil.ignore_patterns("_build", "generated"))
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")  # docs/examples/notebooks -> ../../notebooks
    out = tmp_path / "html"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-D", "nb_execution_mode=off",
           str(src), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, f"sphinx failed:\n{done.stderr[-6000:]}"
    pages = {p.relative_to(out).as_posix() for p in out.rglob("*.html")}
    notebooks = {f"examples/notebooks/{p.stem}.html" for p in (ROOT / "notebooks").glob("*.ipynb")}
    guide = {f"guide/{p.stem}.html" for p in (ROOT / "docs" / "guide").glob("*.md") if p.stem != "index"}
    assert {"index.html", "getting-started.html", "api/index.html", "api/generated/bayescale.fit.html"} <= pages
    assert notebooks and notebooks <= pages, notebooks - pages
    assert guide <= pages, guide - pages
    guide_index = (out / "guide" / "index.html").read_text()
    assert all(f'href="{pathlib.Path(g).name}"' in guide_index for g in guide), "a guide page is missing from the toctree"
