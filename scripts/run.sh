#!/usr/bin/env bash
# Serve the app, one Celery worker on every queue (no -Q: it consumes interactive, bulk and images)
# and Celery beat (the periodic jobs); Ctrl+C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
VAR="${VAR_DIR:-var}"
mkdir -p "$VAR/celery/queue" "$VAR/celery/processed"
.venv/bin/celery -A config worker --loglevel=INFO --concurrency=2 &
WORKER=$!
.venv/bin/celery -A config beat --loglevel=INFO -s "$VAR/celerybeat-schedule" &
BEAT=$!
trap 'kill "$WORKER" "$BEAT" 2>/dev/null || true; wait "$WORKER" "$BEAT" 2>/dev/null || true' EXIT INT TERM
echo "Serving http://127.0.0.1:8000/ (worker pid $WORKER, beat pid $BEAT). Ctrl+C stops them all."
# An ASGI server, so answers stream into the pages (server-sent events from async views; under
# runserver, a WSGI server, each stream would arrive in one piece at its end). --reload watches
# the apps' code like runserver does.
RELOAD_DIRS=()
for d in config llm notes artifacts products segmentation codegen evals accounts ops templates; do RELOAD_DIRS+=(--reload-dir "$d"); done
.venv/bin/uvicorn config.asgi:application --host 127.0.0.1 --port 8000 --reload "${RELOAD_DIRS[@]}"
