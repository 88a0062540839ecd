# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Hermetic, quiet Prefect: no telemetry, patient ephemeral-server start on small machines.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90

.PHONY: setup run test lint format clean serve

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "portflow needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(BIN)/python -m pip install --quiet -e '.[sample,dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install portflow with the sample data and dev tools

run: setup ## run the whole pipeline offline on the bundled real data
	$(BIN)/portflow run configs/default.yaml

test: setup ## run the test suite
	$(BIN)/python -m pytest

lint: setup ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache

serve: setup ## local Prefect server (UI on :4200) + a process serving the deployments
	$(BIN)/portflow serve
