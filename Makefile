# Entry points. See README.md.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi

.DEFAULT_GOAL := help
.PHONY: help venv run test lint bench clean distclean

help:
	@echo "make run    - set up and run the app on SQLite with demo data at http://127.0.0.1:5000"
	@echo "make test   - full suite: ruff, mypy, migrations (SQLite+PG), pytest on SQLite and PostgreSQL"
	@echo "make lint   - ruff check + mypy app"
	@echo "make bench  - run every bench/*.py"
	@echo "make venv   - install system packages (if root) and the .venv"
	@echo "make clean  - remove caches and test/bench output (keeps .venv and instance/)"

venv:
	bash scripts/bootstrap.sh

run: venv
	$(FLASK) db upgrade
	$(FLASK) workflows deploy
	$(FLASK) demo
	$(FLASK) run --host 127.0.0.1 --port 5000

test:
	bash scripts/test.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy app

# Runs bench/*.py (files starting with "_" are helpers and are skipped).
bench: venv
	@set -e; found=0; \
	for f in bench/*.py; do \
		[ -e "$$f" ] || continue; \
		case "$$(basename "$$f")" in _*) continue ;; esac; \
		found=1; echo "==> $$f"; $(PY) "$$f"; \
	done; \
	[ "$$found" = 1 ] || echo "no bench/*.py scripts found"

clean:
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .mypy_cache .ruff_cache test-results bench/out

distclean: clean
	rm -rf $(VENV)
