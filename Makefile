# HọcSố — the two commands are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export HOCSO_DATA_DIR ?= ./var

.PHONY: run test venv lint format typecheck layers compose check-migrations pytest pytest-pg \
        suites e2e fuzz system-deps bench audit messages clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## make run: install, migrate, load demo data and serve on http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/hocso migrate
	$(BIN)/hocso demo
	@echo "Serving on http://127.0.0.1:8000  (API docs: http://127.0.0.1:8000/docs)"
	$(BIN)/hocso serve --host 127.0.0.1 --port 8000

## make test: lint, types, layers, compose file, migrations, the suite on SQLite and PostgreSQL
test: $(STAMP) system-deps lint typecheck layers compose check-migrations suites

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

compose:
	scripts/validate-compose.sh

check-migrations: $(STAMP)
	rm -rf var/check-migrations
	HOCSO_DATA_DIR=var/check-migrations $(BIN)/hocso migrate >/dev/null
	HOCSO_DATA_DIR=var/check-migrations $(BIN)/alembic check
	rm -rf var/check-migrations

## the two passes side by side (SQLite + disk with the browser journeys; PostgreSQL + S3)
suites: $(STAMP)
	BIN=$(BIN) scripts/run-suites.sh

pytest: $(STAMP)
	HOCSO_TEST_DB=sqlite $(BIN)/pytest -q

pytest-pg: $(STAMP)
	HOCSO_TEST_DB=postgresql HOCSO_TEST_STORAGE=s3 $(BIN)/pytest -q -m "not e2e" -p no:logging

e2e: $(STAMP)
	$(BIN)/pytest -q -m e2e

## make fuzz: the whole-API fuzzer, deeper than in `make test`: HOCSO_FUZZ_EXAMPLES (default 100)
## generated requests per operation, each sent as every role, on SQLite then PostgreSQL + S3.
## A fresh random seed each run (printed with any finding; HOCSO_FUZZ_SEED=N replays it).
fuzz: $(STAMP) system-deps
	HOCSO_TEST_DB=sqlite HOCSO_FUZZ_EXAMPLES=$${HOCSO_FUZZ_EXAMPLES:-100} \
	    HOCSO_FUZZ_SEED=$${HOCSO_FUZZ_SEED:-} $(BIN)/pytest -q -p no:logging tests/security/test_fuzz.py
	HOCSO_TEST_DB=postgresql HOCSO_TEST_STORAGE=s3 HOCSO_FUZZ_EXAMPLES=$${HOCSO_FUZZ_EXAMPLES:-100} \
	    HOCSO_FUZZ_SEED=$${HOCSO_FUZZ_SEED:-} $(BIN)/pytest -q -p no:logging tests/security/test_fuzz.py

## Debian packages the tests need (PostgreSQL server, Chromium, docker-compose for validation)
system-deps:
	scripts/ensure-system-deps.sh

bench: $(STAMP)
	$(BIN)/python bench/import_users.py
	$(BIN)/python bench/upload.py
	$(BIN)/python bench/learner.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/load.py

## make audit: Lighthouse on the key pages of a live demo server (not in `make test`, not in CI)
audit: $(STAMP)
	cd tools/audit && npm ci --no-audit --no-fund --silent
	rm -rf test-artifacts/lighthouse
	$(BIN)/python scripts/lighthouse_audit.py --out test-artifacts/lighthouse
	$(BIN)/python scripts/lighthouse_gate.py --record test-artifacts/lighthouse

messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -k N_ \
	    --no-location --no-wrap --sort-output --project HọcSố --version 0.1.0 -o app/locale/messages.pot .
	$(BIN)/pybabel update -i app/locale/messages.pot -d app/locale --no-fuzzy-matching

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
