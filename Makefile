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

.PHONY: setup run test test-sqlite test-postgres lint typecheck bench clean chromium screenshots messages

setup: $(STAMP) $(NPM_STAMP) chromium

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# DSFR_ACCEPT_LICENSE=1: @gouvfr/dsfr (>= 1.15) refuses to install until its terms of use
# (node_modules/@gouvfr/dsfr/doc/legal/cgu.md) are accepted; they reserve the State's brand
# (Marianne block, "République française") to the State's own services.
$(NPM_STAMP): package.json package-lock.json
	DSFR_ACCEPT_LICENSE=1 npm ci --no-audit --no-fund --silent
	touch $(NPM_STAMP)

# The browser tests drive the system's Chromium (Playwright never downloads a browser).
chromium:
	@test -x /usr/bin/chromium || { echo "installing chromium (browser tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The main pages, mobile and desktop, French and English: var/screenshots/*.png
screenshots: setup
	$(BIN)/python -m tests.web.screenshots var/screenshots

# Re-extract the web portals' texts into both catalogues (then translate the new English ones).
messages: $(STAMP)
	mkdir -p var
	$(BIN)/pybabel extract -F src/carnet/web/babel.cfg -k _t:2 --no-location --sort-output \
	  -o var/messages.pot src/carnet/web
	$(BIN)/pybabel update -i var/messages.pot -d src/carnet/web/locales --no-wrap \
	  --no-fuzzy-matching --ignore-obsolete

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
	$(BIN)/python bench/suite.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules var .mypy_cache .pytest_cache .ruff_cache
