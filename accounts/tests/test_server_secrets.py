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
    # One full start (the only subprocess here that loads every app): `check --deploy` with DEBUG off
    # passes, and still names the development key left in the list for decryption.
    result = _manage("check", "--deploy", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_SECRET,
                     FIELD_ENCRYPTION_KEY=f"{Fernet.generate_key().decode()},{DEV_FIELD_ENCRYPTION_KEY}")
    assert result.returncode == 0, result.stderr
    out = result.stderr + result.stdout
    assert "accounts.W001" not in out and "accounts.W002" not in out and "accounts.W003" in out


def _deploy_warnings() -> set[str]:
    from django.core import checks

    return {m.id for m in checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])}


def test_check_deploy_warns_about_development_secrets(settings):
    # In this process, with the settings the environment gives (DEBUG on, development values), then
    # with the values config/settings makes of real secrets; `manage.py check --deploy` runs the same
    # registered check (the subprocess above holds the command end to end).
    from config.keys import field_encryption_keys, secret_key

    settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEYS = DEV_SECRET_KEY, field_encryption_keys("", True)
    assert {"accounts.W001", "accounts.W002"} <= _deploy_warnings()
    settings.SECRET_KEY = secret_key(GOOD_SECRET, True)
    settings.FIELD_ENCRYPTION_KEYS = field_encryption_keys(
        f"{Fernet.generate_key().decode()},{DEV_FIELD_ENCRYPTION_KEY}", True)
    found = _deploy_warnings()
    assert "accounts.W001" not in found and "accounts.W002" not in found and "accounts.W003" in found
