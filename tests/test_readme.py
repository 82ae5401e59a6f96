"""The README's Python code blocks run as written (in a scratch folder)."""

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
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with warnings.catch_warnings():
        # The tour forecasts far beyond the example's compute on purpose; that warning is expected.
        import bayescale as bs

        warnings.simplefilter("ignore", bs.ExtrapolationWarning)
        for i, block in enumerate(BLOCKS):
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)
