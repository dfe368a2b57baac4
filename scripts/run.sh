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
.venv/bin/python manage.py runserver 127.0.0.1:8000
