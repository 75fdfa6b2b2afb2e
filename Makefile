# The two quick-start commands (README): `make run` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= runs/quickstart

.PHONY: run test lint notebooks setup clean

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
		--batch-size 32 --iterations 500 --out $(OUT)

lint: setup
	$(BIN)/ruff format --check src tests scripts notebooks
	$(BIN)/ruff check src tests scripts notebooks

# The notebooks' sources are notebooks/*.py (jupytext percent format): edit those, then run this
# to write notebooks/*.ipynb from them (cell ids kept, no outputs).
notebooks: setup
	$(BIN)/python -m jupytext --to ipynb --update notebooks/[0-9]*.py

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
