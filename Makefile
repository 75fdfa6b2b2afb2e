# The two quick-start commands (README): `make run` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= runs/quickstart

.PHONY: run test lint setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# Main job: evidence accumulation (Bellec et al. 2020, Fig. 3) with online e-prop and random
# feedback; metrics, checkpoint and figures go to $(OUT).
run: setup
	$(BIN)/eprop-jax train evidence_accumulation --rule eprop --feedback random \
		--batch-size 32 --iterations 200 --out $(OUT)

lint: setup
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/ruff check src tests scripts

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
