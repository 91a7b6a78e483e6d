# Two commands do everything on a fresh machine: `make run` and `make test` (README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run serve test lint format messages clean-db bench

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

## make run: install, migrate, load the Yên Bái tree and demo data, serve on http://127.0.0.1:8000
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_org_tree portal/data/yen_bai_2022.json
	$(PY) manage.py seed_demo
	@echo "Giao Ban: http://$(HOST):$(PORT)/  (Ctrl+C to stop)"
	exec $(VENV)/bin/daphne -b $(HOST) -p $(PORT) portal.asgi:application

## make serve: serve without re-seeding
serve: install
	exec $(VENV)/bin/daphne -b $(HOST) -p $(PORT) portal.asgi:application

## make test: lint, then the whole suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

messages: install
	$(PY) manage.py makemessages -l en --ignore=.venv --ignore=staticfiles --ignore=var --ignore=benchmarks
	$(PY) manage.py makemessages -d djangojs -l en --ignore=.venv --ignore=staticfiles --ignore=var --ignore=benchmarks
	$(PY) tools/po_fill.py --todo locale/en/LC_MESSAGES/django.po
	$(PY) tools/po_fill.py --todo locale/en/LC_MESSAGES/djangojs.po
	$(PY) manage.py compilemessages -l en --ignore=.venv

bench: install
	@echo "see docs/benchmarks.md for each benchmark's command"
