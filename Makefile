# The README's commands. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test unit integration lint demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml scripts/ensure-debs.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	scripts/ensure-debs.sh prometheus
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .

test: venv lint
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest tests/unit

integration: venv
	$(BIN)/pytest -m integration

demo: venv
	$(BIN)/kubescale demo --scenario small --dir .kubesim

bench: venv
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .kubesim .pytest_cache .ruff_cache
