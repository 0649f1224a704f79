# The two commands: `make demo` (the main job on the simulated fleet + Azurite) and `make test`.
# Each works on a fresh clone with only Python 3.11, Node 20 and access to PyPI and npm.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or run: make PYTHON=python3)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

node_modules/.bin/azurite: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: $(STAMP) node_modules/.bin/azurite
	$(PY) -m local_stack demo $(ARGS)

test: $(STAMP) node_modules/.bin/azurite
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest

bench: $(STAMP) node_modules/.bin/azurite
	$(PY) -m local_stack.bench --size $(or $(SIZE),reduced)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
