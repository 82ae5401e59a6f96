"""Every notebook runs top to bottom at a tiny sampling budget (BAYESCALE_FAST=1)."""

import pathlib

import pytest

from conftest import EPOCH_FILE

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, monkeypatch):
    monkeypatch.setenv("BAYESCALE_FAST", "1")
    if "chinchilla" in path.stem:
        if not EPOCH_FILE.exists():
            pytest.skip("../shared/data/ not present (Epoch AI's Chinchilla file) and no network")
        monkeypatch.setenv("BAYESCALE_CHINCHILLA_PATH", str(EPOCH_FILE))
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, when any cell fails
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


@pytest.mark.slow
def test_throughput_notebook_runs_from_the_repository_root(monkeypatch):
    """Notebook 05 reads benchmarks/results: from notebooks/ (above) and from the root alike."""
    path = next(p for p in NOTEBOOKS if "throughput" in p.stem)
    monkeypatch.setenv("BAYESCALE_FAST", "1")
    nb = nbformat.read(path, as_version=4)
    root = path.parent.parent
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(root)}}).execute()
