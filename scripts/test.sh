#!/usr/bin/env bash
# The whole suite against real PostgreSQL and Redis, and Debian's Chromium for browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/llmplatform}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-$REDIS_URL}"
export STORAGE_BACKEND=local
export DJANGO_SETTINGS_MODULE=config.settings

bash scripts/ensure_services.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium for the browser tests." >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "FATAL: /usr/bin/chromium is missing and we are not root to install it (apt-get install chromium)." >&2
    exit 1
  fi
fi
if ! command -v wrk >/dev/null; then  # tests/test_bench_scripts.py runs bench/web_load.py --tiny
  echo "Installing Debian's wrk for the benchmark scripts' test." >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "FATAL: wrk is missing and we are not root to install it (apt-get install wrk)." >&2
    exit 1
  fi
fi
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null || {
  echo "FATAL: models changed without migrations: run manage.py makemigrations." >&2; exit 1; }
bash scripts/prod_venv.sh  # tests/test_production_install.py starts the app from it
# In parallel (pytest-xdist): one worker per core, at most 4 (each takes two Redis databases from
# REDIS_URL's number up, tests/isolation.py). The tests that start Celery workers run one after the
# other on one worker (their xdist_group, conftest.py). TEST_WORKERS=0 runs serially.
CORES="$(nproc 2>/dev/null || echo 1)"
WORKERS="${TEST_WORKERS:-$(( CORES < 4 ? CORES : 4 ))}"
if [ "$WORKERS" -gt 1 ]; then
  set -- -n "$WORKERS" --dist loadgroup "$@"
fi
exec .venv/bin/python -m pytest "$@"
