"""The Python code blocks of the README and of the documentation pages run as written, in order, in a scratch
folder (each page in a namespace of its own).

As with the notebooks (BAYESCALE_FAST=1), fits run at the suite's fast sampling budget
(4 x (500 + 500), compiled once for the example's shape), neither extended nor refitted after
divergences, unless a block sets its own; the point is that every line of the README and the docs works, not
the numbers it prints. Warnings the library raises for the user (extrapolation, convergence, Pareto k) are
shown, not asserted. The README and the docs run in this one file, so in one process: the programs a block
compiles serve the blocks of the other pages that fit the same shapes.
"""

import functools
import pathlib
import re
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts and "generated" not in p.parts)


def _python_blocks(path: pathlib.Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


BLOCKS = _python_blocks(README)
PAGES_WITH_CODE = [p for p in DOC_PAGES if _python_blocks(p)]


def test_readme_has_python_blocks():
    assert BLOCKS


def test_docs_pages_have_python_blocks():
    names = {p.relative_to(ROOT / "docs").as_posix() for p in PAGES_WITH_CODE}
    assert {"index.md", "getting-started.md", "guide/model-and-priors.md"} <= names, names


def _run_blocks(blocks: list[str], label: str, tmp_path, monkeypatch) -> None:
    import bayescale as bs

    from conftest import FAST

    monkeypatch.chdir(tmp_path)
    for name in ("fit", "fit_many"):
        original = getattr(bs, name)
        quick = {k: v for k, v in FAST.items() if k != "num_chains"}
        monkeypatch.setattr(bs, name, functools.partial(original, **quick, until_converged=0, refit_divergent=()))
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.BayescaleWarning)
        for i, block in enumerate(blocks):
            exec(compile(block, f"{label} python block {i}", "exec"), namespace)


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    _run_blocks(BLOCKS, "README.md", tmp_path, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=[p.relative_to(ROOT / "docs").as_posix() for p in PAGES_WITH_CODE])
def test_docs_python_blocks_run(page, tmp_path, monkeypatch):
    _run_blocks(_python_blocks(page), page.relative_to(ROOT).as_posix(), tmp_path, monkeypatch)
