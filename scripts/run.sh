#!/usr/bin/env bash
# Serve the app and run one Celery worker beside it; Ctrl+C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/celery/queue var/celery/processed
.venv/bin/celery -A config worker --loglevel=INFO --concurrency=2 &
WORKER=$!
trap 'kill "$WORKER" 2>/dev/null || true; wait "$WORKER" 2>/dev/null || true' EXIT INT TERM
echo "Serving http://127.0.0.1:8000/ (worker pid $WORKER). Ctrl+C stops both."
.venv/bin/python manage.py runserver 127.0.0.1:8000
