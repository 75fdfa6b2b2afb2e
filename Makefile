# The two quick-start commands (README): `make run` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= runs/quickstart
# A second `make run` refuses to replace the run in $(OUT): RUN_FLAGS=--overwrite replaces it,
# RUN_FLAGS=--resume continues it.
RUN_FLAGS ?=

.PHONY: run test test-fast lint notebooks setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# Main job: evidence accumulation (Bellec et al. 2020, Fig. 3) with e-prop and random feedback
# (the factored implementation: the online rule's exact gradient, several times faster on a
# CPU), up to 500 iterations with early stopping at 7 % recall error; outputs go to $(OUT).
run: setup
	$(BIN)/eprop-jax train evidence_accumulation --rule eprop-factored --feedback random \
		--batch-size 32 --iterations 1000 --out $(OUT) $(RUN_FLAGS)

lint: setup
	$(BIN)/ruff format --check src tests scripts notebooks
	$(BIN)/ruff check src tests scripts notebooks

# The notebooks' sources are notebooks/*.py (jupytext percent format): edit those, then run this
# to write notebooks/*.ipynb from them (cell ids kept, no outputs).
notebooks: setup
	$(BIN)/python -m jupytext --to ipynb --update notebooks/[0-9]*.py

# The whole suite, spread over the machine's cores (pytest-xdist). `make test-fast` leaves out the
# tests marked slow (see tests/conftest.py): the quick loop while editing (about 4 minutes on 2 idle cores).
PYTEST_WORKERS ?= auto

test: setup
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

test-fast: setup
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not slow"

clean:
	rm -rf $(VENV) runs
