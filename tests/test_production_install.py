"""The app starts and serves /readyz from a virtualenv holding requirements.txt only (issue 23 §5).

scripts/test.sh (``make test``) builds ``.venv-prod`` with scripts/prod_venv.sh, once, and again
when requirements.txt changes. The server here is the deployment guide's: gunicorn with the
production settings, the test database, the suite's Redis and a local storage folder. A runtime
import satisfied only by requirements-dev.txt fails the start, or one of the probe's checks.
"""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
PROD_VENV = Path(os.environ.get("PROD_VENV", ROOT / ".venv-prod"))
if not PROD_VENV.is_absolute():
    PROD_VENV = ROOT / PROD_VENV
DEV_ONLY = ("pytest", "pytest_django", "xdist", "playwright", "moto", "flask", "docker", "cfnlint", "aws_xray_sdk",
            "graphql", "schemathesis", "hypothesis", "markdown")
PROBE_TOKEN = "probe-token-for-the-install-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def prod_python():
    python = PROD_VENV / "bin" / "python"
    if not (PROD_VENV / ".installed").exists() or not python.exists():
        pytest.fail(f"{PROD_VENV} is missing: `bash scripts/prod_venv.sh` builds it (`make test` does).")
    return python


def test_the_production_virtualenv_holds_no_test_or_benchmark_tool(prod_python):
    code = f"import importlib.util as u; print(','.join(m for m in {DEV_ONLY!r} if u.find_spec(m)))"
    found = subprocess.run([str(prod_python), "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert found.stdout.strip() == "", f"requirements.txt brings in development tools: {found.stdout.strip()}"


@pytest.mark.django_db(transaction=True)  # the provider rows must be committed: the server is another process
def test_the_app_starts_and_is_ready_with_only_requirements_txt_installed(prod_python, tmp_path):
    from django.db import connection

    from llm.bootstrap import ensure_defaults

    ensure_defaults()  # what `manage.py llm sync-prices` leaves behind (the copy/paste provider is configured)
    db = connection.settings_dict
    port = _free_port()
    env = {
        "PATH": f"{PROD_VENV / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "k7#Qv9!zR2@pL5$wX8^mN1&bT4*cY6(hJ3)dF0_gS-eA+uI=oP",
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", os.environ["REDIS_URL"]),
        "STORAGE_BACKEND": "local",
        "STORAGE_ROOT": str(tmp_path / "storage"),
        "VAR_DIR": str(tmp_path / "var"),
        "READYZ_TOKEN": PROBE_TOKEN,
        "READYZ_STORAGE_CHECK_INTERVAL": "0",  # a real write on this probe, not a cached result
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(PROD_VENV / "bin" / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--timeout", "60"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"the server stopped at start:\n{log_path.read_text()[-3000:]}"
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no answer from the server:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.1)

        status, body = _get(f"{base}/readyz", {"X-Probe-Token": PROBE_TOKEN})
        assert status == 200, (body, log_path.read_text()[-3000:])
        assert body["status"] == "ok"
        assert set(body["checks"]) == {"database", "broker", "storage", "providers"}
        assert all(check["ok"] for check in body["checks"].values()), body["checks"]
        assert body["checks"]["database"]["detail"] == "postgresql"
        assert body["checks"]["broker"]["detail"] == "redis"
        # /readyz is private: without the probe token nobody learns which check passed or failed.
        assert _get(f"{base}/readyz") == (200, {"status": "ok"})
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
