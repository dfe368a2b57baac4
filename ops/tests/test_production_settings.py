"""The production profile passes `manage.py check --deploy` and refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check(extra_env: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_ENCRYPTION"))}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", **extra_env})
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# A Fernet key made for these tests (FIELD_ENCRYPTION_KEY is required since issue 19).
FIELD_KEY = "wRy0u5Ch8cSdCEyQbqv5Wv3Y3oN8o3GqjWf0b7N0rAs="


def test_check_deploy_is_clean():
    result = _check({"DJANGO_SECRET_KEY": "k7#Qv9!zR2@pL5$wX8^mN1&bT4*cY6(hJ3)dF0_gS-eA+uI=oP", "DJANGO_ALLOWED_HOSTS": "llm.example.com",
                     "FIELD_ENCRYPTION_KEY": FIELD_KEY})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_missing_secret_key_stops_the_start_with_its_name():
    result = _check({"DJANGO_ALLOWED_HOSTS": "llm.example.com", "FIELD_ENCRYPTION_KEY": FIELD_KEY})
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_a_missing_field_encryption_key_stops_the_start_with_its_name():
    result = _check({"DJANGO_ALLOWED_HOSTS": "llm.example.com",
                     "DJANGO_SECRET_KEY": "k7#Qv9!zR2@pL5$wX8^mN1&bT4*cY6(hJ3)dF0_gS-eA+uI=oP"})
    assert result.returncode != 0 and "FIELD_ENCRYPTION_KEY" in result.stderr
