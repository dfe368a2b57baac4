"""Shared fixtures: real PostgreSQL and Redis (checked up front), users, the fake provider server."""

import os
import socket
import urllib.parse

import pytest
from django.conf import settings as django_settings

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop


def pytest_configure(config):
    engine = django_settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            f"The suite runs against PostgreSQL, but DATABASE_URL gives {engine}. Run it with `make test`."
        )
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        raise pytest.UsageError("REDIS_URL is not set: the suite needs a real Redis. Run it with `make test`.")
    parsed = urllib.parse.urlparse(redis_url)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=3).close()
    except OSError as exc:
        raise pytest.UsageError(f"Redis does not answer at {redis_url}: {exc}") from None


@pytest.fixture(autouse=True)
def _isolated_files_and_fast_retries(settings, tmp_path):
    """Each test writes interaction files to its own folder and retries without long sleeps."""
    files = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "storage")}}
    settings.STORAGES = {**settings.STORAGES, "default": files, "llm_logs": files}
    settings.LLM_RETRY_INITIAL_DELAY = 0.01
    settings.LLM_RETRY_MAX_DELAY = 0.05
    settings.LLM_DEFAULT_PROVIDER = ""
    settings.LLM_DEFAULT_MODEL = ""
    yield


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", password="owner-pass-123")


@pytest.fixture
def teammate(django_user_model):
    return django_user_model.objects.create_user("teammate", password="teammate-pass-123")


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user("outsider", password="outsider-pass-123")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staffer", password="staff-pass-123", is_staff=True)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture(scope="session")
def fake_server():
    from llm.testing.fake_provider import FakeProviderServer

    server = FakeProviderServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_server):
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def providers(db, fake, monkeypatch):
    """The default providers, with bundled prices, all pointing at the fake server."""
    from llm.bootstrap import ensure_defaults
    from llm.models import LLMProvider

    ensure_defaults()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-test-0000")
    LLMProvider.objects.filter(name="openai").update(base_url=fake.openai_base_url)
    LLMProvider.objects.filter(name="anthropic").update(base_url=fake.anthropic_base_url)
    LLMProvider.objects.filter(name="gemini").update(base_url=fake.gemini_base_url)
    LLMProvider.objects.filter(name="ollama").update(base_url=fake.openai_base_url, enabled=True)
    return {p.name: p for p in LLMProvider.objects.all()}


@pytest.fixture
def celery_eager():
    """Run tasks inline (for tests of the flow, not of the worker: see the worker-marked tests)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (``playwright install`` cannot download browsers here)."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        raise pytest.UsageError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package.")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


def login(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
