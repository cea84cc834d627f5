# The two commands of the README:
#   make run    set up .venv and run the main job
#   make test   set up .venv with the dev extras and run the test suite
# Everything installs from the package registries; nothing downloads at run time.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# Re-install when pyproject.toml changes.
STAMP     := $(VENV)/.stamp-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEV_STAMP := $(STAMP)-dev

.PHONY: run test lint setup setup-dev clean

run: $(STAMP)
	$(VENV)/bin/mobilevid profile --all

test: $(DEV_STAMP)
	$(VENV)/bin/ruff check mobilevid tests
	$(PY) -m pytest -q

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check mobilevid tests
	$(VENV)/bin/ruff format --check mobilevid tests

setup: $(STAMP)
setup-dev: $(DEV_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "mobilevid needs Python 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP) $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
