# The commands the README names. Each bootstraps .venv when it is missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all smoke test test-slow report audit check clean-smoke

all: smoke

$(BIN)/replica: pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need Python 3.11 ($(PY)) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $(BIN)/replica

## smoke: set up, run every paper's pipeline at the smoke profile (DVC temp experiments), then the report
smoke: $(BIN)/replica
	$(BIN)/replica smoke
	$(BIN)/replica report

## test: set up and run the default test suite (slow tests excluded)
test: $(BIN)/replica
	$(BIN)/python -m pytest -q

## test-slow: only the slow tests (paper-scale and long end-to-end runs)
test-slow: $(BIN)/replica
	$(BIN)/python -m pytest -q -m slow

report: $(BIN)/replica
	$(BIN)/replica report

audit: $(BIN)/replica
	$(BIN)/replica audit her
	$(BIN)/replica audit maml
	$(BIN)/replica audit mlsh
	$(BIN)/replica audit rl2
	$(BIN)/replica audit snail

check: $(BIN)/replica
	$(BIN)/replica check her
	$(BIN)/replica check maml
	$(BIN)/replica check mlsh
	$(BIN)/replica check rl2
	$(BIN)/replica check snail
