"""The README's Python code blocks run as written, in order, in a scratch folder.

As with the notebooks (BAYESCALE_FAST=1), fits run at the suite's fast sampling budget
(4 x (500 + 500), compiled once for the example's shape), neither extended nor refitted after
divergences, unless a block sets its own; the point is that every line of the README works, not the
numbers it prints. Warnings the library raises for the user (extrapolation, convergence, Pareto k) are
shown, not asserted.
"""

import functools
import pathlib
import re
import warnings

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_blocks():
    assert BLOCKS


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
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
        for i, block in enumerate(BLOCKS):
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)
