# Two commands on a fresh machine: `make run` (platform with demo data on SQLite at
# http://127.0.0.1:8000) and `make test` (the whole suite, on SQLite then PostgreSQL).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
DEMO_SIZE ?= 20000
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/carnet_test
export CARNET_DATABASE_URL ?= sqlite:///var/carnet.db
export CARNET_DATA_DIR ?= var

.PHONY: setup run test test-sqlite test-postgres lint typecheck bench clean

setup: $(STAMP) $(NPM_STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(NPM_STAMP)

run: setup
	$(BIN)/carnet db upgrade
	$(BIN)/carnet demo load --size $(DEMO_SIZE)
	$(BIN)/carnet serve --host 127.0.0.1 --port 8000

test: setup lint typecheck test-sqlite test-postgres

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

test-sqlite: setup
	env -u CARNET_TEST_DATABASE_URL -u CARNET_DATABASE_URL $(BIN)/pytest -n 2 -q

test-postgres: setup
	CARNET_TEST_DATABASE_URL=$${CARNET_TEST_DATABASE_URL:-$(PG_TEST_URL)} $(BIN)/pytest -n 2 -q

bench: setup
	$(BIN)/python bench/lookup.py

clean:
	rm -rf $(VENV) node_modules var .mypy_cache .pytest_cache .ruff_cache
