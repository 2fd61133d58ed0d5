# Two commands on a fresh machine:
#   make demo   set up a venv and run the main example
#   make test   set up a venv and run every check and test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/agentlink demo

lint: $(STAMP)
	$(BIN)/ruff check agentlink tests conformance_tests bench
	$(BIN)/ruff format --check agentlink tests conformance_tests bench
	$(BIN)/mypy agentlink
	$(BIN)/agentlink schema check

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV)
