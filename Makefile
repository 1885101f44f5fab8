# Two commands on a fresh machine: `make run` and `make test`.
# Each creates .venv when missing and (re)installs only when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench migrate doctor clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing Threadline and its dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@$(BIN)/threadline run

test: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check . || true

bench: $(STAMP)
	@$(BIN)/python -m benchmarks

migrate: $(STAMP)
	@$(BIN)/threadline migrate

doctor: $(STAMP)
	@$(BIN)/threadline doctor

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
