#!/usr/bin/env bash
# .venv-prod: a virtualenv with requirements.txt only (what a deployment installs), built once and
# rebuilt when requirements.txt changes. ops/tests/test_production_install.py starts the app from
# it, so a runtime dependency that only requirements-dev.txt brings in fails the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PROD_VENV="${PROD_VENV:-.venv-prod}"
STAMP="$PROD_VENV/.installed"
if [ -f "$STAMP" ] && [ "$STAMP" -nt requirements.txt ]; then
  exit 0
fi
echo "Building $PROD_VENV from requirements.txt (once; pip's cache makes later rebuilds quick)." >&2
BASE_PYTHON="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"  # the dev venv's interpreter
rm -rf "$PROD_VENV"
"$BASE_PYTHON" -m venv "$PROD_VENV"
LOG="$PROD_VENV/pip.log"
if ! "$PROD_VENV/bin/pip" install --disable-pip-version-check -r requirements.txt >"$LOG" 2>&1; then
  grep -v "^WARNING: Location" "$LOG" | tail -n 40 >&2
  echo "FATAL: pip could not install requirements.txt into $PROD_VENV (full log: $LOG)." >&2
  exit 1
fi
touch "$STAMP"
