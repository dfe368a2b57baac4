# Two commands do everything on a fresh clone: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test install install-dev static migrate seed check clean bench messages

run: install
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@bash scripts/run.sh

# scripts/test.sh also builds .venv-prod (requirements.txt alone) for the production-install test.
test: install-dev
	@bash scripts/test.sh

# What the running app needs (requirements.txt): `make run` and the deployment guide.
install: $(VENV)/.installed static/vendor/.installed

# ... plus the test and benchmark tools (requirements-dev.txt): `make test`.
install-dev: install $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	@touch $@

# Front-end libraries come from the npm registry, copied into static/vendor (no CDN at run time).
static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chart.umd.min.js
	cp node_modules/chart.js/dist/chart.umd.min.js.map static/vendor/chart.umd.min.js.map  # collectstatic's manifest follows its sourceMappingURL
	cp node_modules/mermaid/dist/mermaid.min.js static/vendor/mermaid.min.js
	@touch $@

# The benchmarks behind the README's performance table, one after the other (several minutes,
# PostgreSQL required, `wrk` for the last one; each prints its figures and stops `make` on a
# failure). They create scratch databases next to DATABASE_URL's. See bench/README.md.
bench: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/llmplatform_bench
bench: export REDIS_URL ?= redis://127.0.0.1:6379/0
bench: install-dev
	$(VENV)/bin/pip install --quiet -r bench/requirements.txt  # LiteLLM, the yardstick of llm_overhead.py
	@bash scripts/ensure_services.sh
	@command -v wrk >/dev/null || { echo "bench/web_load.py needs wrk: apt-get install -y wrk" >&2; exit 1; }
	$(PY) bench/llm_overhead.py
	$(PY) bench/dashboard_scale.py
	$(PY) bench/segmentation_scale.py
	$(PY) bench/segmentation_sql_paths.py
	$(PY) bench/web_load.py
	$(PY) bench/html_to_text.py
	$(PY) bench/markdown_render.py
	$(PY) scripts/ensure_database.py  # the next two work in DATABASE_URL itself, migrated
	$(PY) manage.py migrate --noinput
	$(PY) bench/cost_per_1k.py
	$(PY) bench/evals_experiment.py

# Refresh a translation catalogue (locale/<lang>/LC_MESSAGES/django.po, default fr) after changing
# user-facing strings; needs GNU gettext. A language is offered once its catalogue is translated,
# compiled (`manage.py compilemessages`) and added to LANGUAGES in config/settings.
LANG_CODE ?= fr
messages: install
	$(PY) manage.py makemessages -l $(LANG_CODE) -i .venv -i node_modules -i var -i static -i bench -i scripts -i tests -i "*/tests/*"

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) .venv-prod node_modules static/vendor
