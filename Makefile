# Two commands do everything on a fresh machine: `make run` and `make test` (README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
VAR_DIR := $(or $(GIAOBAN_VAR_DIR),var)
SECRET_FILE := $(VAR_DIR)/secret_key
# Links in e-mails, calendar files and seed_demo's output use the address being served.
SITE_URL ?= http://$(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST)):$(PORT)
# make run/serve are production-like: DEBUG off (the portal's own error pages), a secret key
# generated once and kept in var/, cookies over plain http on this machine. Variables already
# set in the environment win. make dev is the same with DEBUG on.
RUN_ENV = SITE_URL=$(SITE_URL) DEBUG=$${DEBUG:-0} SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-0} SECRET_KEY="$${SECRET_KEY:-$$(cat $(SECRET_FILE))}"
DEV_ENV = SITE_URL=$(SITE_URL) DEBUG=$${DEBUG:-1}

.PHONY: install run dev serve test lint format messages clean-db bench

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

$(SECRET_FILE): | $(STAMP)
	@mkdir -p $(VAR_DIR)
	@umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	@echo "generated a secret key in $@ (keep it: sessions and tokens are signed with it)"

## make run: install, migrate, load the Yên Bái tree and demo data, serve on http://$(HOST):$(PORT)
## (production-like: DEBUG off, generated secret key; see docs/operations.md)
run: install $(SECRET_FILE)
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py load_org_tree portal/data/yen_bai_2022.json
	$(RUN_ENV) $(PY) manage.py seed_demo
	@echo "Giao Ban: $(SITE_URL)/  (Ctrl+C to stop)"
	$(RUN_ENV) exec $(VENV)/bin/daphne -b $(HOST) -p $(PORT) portal.asgi:application

## make dev: as make run, with DEBUG on (Django's technical error pages) and the development key
dev: install
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py load_org_tree portal/data/yen_bai_2022.json
	$(DEV_ENV) $(PY) manage.py seed_demo
	@echo "Giao Ban (DEBUG): $(SITE_URL)/  (Ctrl+C to stop)"
	$(DEV_ENV) exec $(VENV)/bin/daphne -b $(HOST) -p $(PORT) portal.asgi:application

## make serve: serve without migrating or re-seeding (production-like, as make run)
serve: install $(SECRET_FILE)
	$(RUN_ENV) exec $(VENV)/bin/daphne -b $(HOST) -p $(PORT) portal.asgi:application

## make test: ruff, mypy (pyproject [tool.mypy]), then the whole suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

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
