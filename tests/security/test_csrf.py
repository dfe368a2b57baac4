"""CSRF: every page refuses a POST without the token; the API wants it with a session, not with a token.

Also the production profile's security settings (``check --deploy`` itself: ops/tests/test_production_settings.py).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from .test_access_matrix import API, PAGES, _api_call, _expect, _rolled_back
from .world import build_world

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(owner, providers, fake):
    return build_world(owner, fake=fake)


def test_every_page_refuses_a_post_without_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    accepted = []
    for name, rule in sorted(PAGES.items()):
        url = reverse(name, kwargs=rule.kwargs(world))
        response = _rolled_back(lambda: client.post(url, {"name": "x", "body": "x", "answer": "x"}))
        if response.status_code != 403:
            accepted.append(f"{name} {url}: {response.status_code}")
    assert not accepted, "POST without a CSRF token was not refused:\n" + "\n".join(accepted)
    # The same form with its token goes through (so the 403s above are the CSRF check, not something else).
    page = client.get(reverse("notes:create"))
    token = page.context["csrf_token"]
    created = client.post(reverse("notes:create"), {"body": "with a token", "csrfmiddlewaretoken": str(token)})
    assert created.status_code == 302


UNSAFE = sorted(k for k in API if not k.startswith("GET "))


def test_unsafe_api_calls_need_csrf_with_a_session_but_not_with_a_token(world):
    session = Client(enforce_csrf_checks=True)
    session.force_login(world.owner)
    scripted = Client(enforce_csrf_checks=True)
    problems = []
    for key in UNSAFE:
        rule = API[key]
        refused = _rolled_back(lambda: _api_call(session, key, rule, world))
        if refused.status_code != 403:
            problems.append(f"{key}: session without CSRF token got {refused.status_code}")
        try:
            _expect(_rolled_back(lambda: _api_call(scripted, key, rule, world,
                                                   {"Authorization": f"Bearer {world.raw_token}"})), rule.status, key)
        except AssertionError as exc:
            problems.append(f"{key}: with a token: {exc}")
    assert not problems, "\n".join(problems)
    assert session.get("/api/me").status_code == 200  # reading needs no token


def _production_setting(names: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", "DJANGO_ALLOWED_HOSTS": "llm.example.com",
                "DJANGO_SECRET_KEY": "k7#Qv9!zR2@pL5$wX8^mN1&bT4*cY6(hJ3)dF0_gS-eA+uI=oP",
                "FIELD_ENCRYPTION_KEY": "wRy0u5Ch8cSdCEyQbqv5Wv3Y3oN8o3GqjWf0b7N0rAs="})
    code = ("import json, django; django.setup(); from django.conf import settings as s; "
            f"print(json.dumps({{n: getattr(s, n, None) for n in {names!r}}}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    import json

    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_production_profile_sets_the_security_settings():
    s = _production_setting(["DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
                             "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS", "SECURE_SSL_REDIRECT",
                             "SESSION_COOKIE_HTTPONLY", "SECURE_PROXY_SSL_HEADER", "SECURE_REFERRER_POLICY",
                             "API_THROTTLE_USER", "API_THROTTLE_ANON"])
    assert s["DEBUG"] is False
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True and s["SESSION_COOKIE_HTTPONLY"]
    assert s["SECURE_HSTS_SECONDS"] >= 31536000 and s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"] is True and s["X_FRAME_OPTIONS"] == "DENY"
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_REFERRER_POLICY"] == "same-origin"
    assert s["API_THROTTLE_USER"] not in ("", "0") and s["API_THROTTLE_ANON"] not in ("", "0")
