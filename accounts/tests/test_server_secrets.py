"""With DEBUG off the default settings refuse to start without real secrets; check --deploy warns."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from config.keys import DEV_FIELD_ENCRYPTION_KEY, DEV_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "k7#Qv9!zR2@pL5$wX8^mN1&bT4*cY6(hJ3)dF0_gS-eA+uI=oP"


def _manage(*args, **extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_ENCRYPTION"))}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", **extra})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("secret", [None, DEV_SECRET_KEY, "short"])
def test_debug_off_without_a_real_secret_key_stops_the_start(secret):
    extra = {"DJANGO_DEBUG": "0", "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    if secret is not None:
        extra["DJANGO_SECRET_KEY"] = secret
    result = _manage("check", **extra)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr  # how to make one


@pytest.mark.parametrize("field_key", [None, DEV_FIELD_ENCRYPTION_KEY, "not-a-fernet-key"])
def test_debug_off_without_a_real_field_encryption_key_stops_the_start(field_key):
    extra = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": GOOD_SECRET}
    if field_key is not None:
        extra["FIELD_ENCRYPTION_KEY"] = field_key
    result = _manage("check", **extra)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "FIELD_ENCRYPTION_KEY" in result.stderr
    assert "Fernet.generate_key()" in result.stderr


def test_debug_off_starts_with_real_secrets():
    result = _manage("check", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_SECRET,
                     FIELD_ENCRYPTION_KEY=f"{Fernet.generate_key().decode()},{DEV_FIELD_ENCRYPTION_KEY}")
    assert result.returncode == 0, result.stderr


def test_check_deploy_warns_about_development_secrets():
    result = _manage("check", "--deploy")  # DEBUG on: starts, with the development values
    assert "accounts.W001" in result.stderr + result.stdout and "accounts.W002" in result.stderr + result.stdout
    kept = _manage("check", "--deploy", DJANGO_SECRET_KEY=GOOD_SECRET,
                   FIELD_ENCRYPTION_KEY=f"{Fernet.generate_key().decode()},{DEV_FIELD_ENCRYPTION_KEY}")
    out = kept.stderr + kept.stdout
    assert "accounts.W001" not in out and "accounts.W002" not in out and "accounts.W003" in out
