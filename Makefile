# bayescale: `make demo` fits the built-in example; `make test` runs the test suite; `make docs` builds the site.
# Each target creates the virtual environment it needs (.venv) from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast docs bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bayescale demo

# One pytest worker per core (pytest-xdist), each test file on one worker so its module fixtures
# (compiled fits) are built once: most of the suite is compiling, which runs on one core.
PYTEST_WORKERS ?= auto

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not slow"

# The documentation site, into docs/_build/html, warnings as errors. The notebooks are executed once for their
# outputs (myst-nb's cache in docs/_build/.jupyter_cache, reused until a notebook changes); NB_EXECUTION=off builds
# without executing them (no outputs), as tests/test_docs.py does.
NB_EXECUTION ?= cache

docs: $(STAMP)
	$(BIN)/python -m sphinx -b html -W --keep-going -D nb_execution_mode=$(NB_EXECUTION) docs docs/_build/html
	@echo "open docs/_build/html/index.html"

# Benchmarks (benchmarks/README in the main README's Performance section); peers from the `bench` extra.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info docs/_build docs/api/generated
