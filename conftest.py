"""Shared fixtures: real PostgreSQL and Redis (checked up front), users, the fake provider server."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop


def pytest_configure(config):
    # The production default (llm/records/interaction_writer.py), here and in the worker processes
    # the tests start: a test reading the query log right after a call sees the final row (the
    # read waits for the queue), a test in a transaction finalises rows inline, and each test ends
    # with the queue applied (_isolated_files_and_fast_retries). LLM_INTERACTION_WRITES=inline runs
    # the suite the old way.
    os.environ.setdefault("LLM_INTERACTION_WRITES", "background")
    django_settings.LLM_INTERACTION_WRITES = os.environ["LLM_INTERACTION_WRITES"]
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
    _check_redis_databases()


def _check_redis_databases():
    """Each xdist worker uses Redis databases of its own (tests/isolation.py): say so when the
    server has too few, instead of failing tests one by one."""
    import redis

    urls = {django_settings.REDIS_URL, django_settings.CELERY_BROKER_URL, django_settings.REDIS_CACHE_URL}
    for url in sorted(u for u in urls if u.startswith(("redis://", "rediss://"))):
        try:
            redis.Redis.from_url(url, socket_timeout=3).ping()
        except redis.ResponseError as exc:
            raise pytest.UsageError(
                f"Redis refuses {url} ({exc}) for xdist worker {os.environ.get('PYTEST_XDIST_WORKER', '-')}: each "
                "worker takes 2 databases from REDIS_URL's number up. Use fewer workers (TEST_WORKERS=2), a lower "
                "database number in REDIS_URL, or more `databases` in redis.conf."
            ) from None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns xdist_group marks into node ids
def pytest_collection_modifyitems(config, items):
    # Tests that start real Celery workers (and the bench scripts, several processes each) run one
    # after the other on one xdist worker (--dist loadgroup): two of them side by side on a small
    # machine would starve each other's processes into their timeouts.
    for item in items:
        if item.get_closest_marker("worker") or item.get_closest_marker("heavy"):
            item.add_marker(pytest.mark.xdist_group("processes"))


@pytest.fixture(autouse=True)
def _isolated_files_and_fast_retries(settings, tmp_path):
    """Each test writes interaction files to its own folder and retries without long sleeps."""
    files = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "storage")}}
    settings.STORAGES = {**settings.STORAGES, "default": files, "llm_logs": files}
    settings.LLM_RETRY_INITIAL_DELAY = 0.01
    settings.LLM_RETRY_MAX_DELAY = 0.05
    settings.LLM_DEFAULT_PROVIDER = ""
    settings.LLM_DEFAULT_MODEL = ""
    # API rate limits count in the shared Redis by username: off unless a test sets its own
    # (tests/security/test_throttling.py).
    settings.API_THROTTLE_ANON = settings.API_THROTTLE_USER = "0"
    # Refused tokens are counted per address (127.0.0.1 for every test) in the same Redis: off
    # unless a test sets it (accounts/tests/test_api_tokens.py).
    settings.API_TOKEN_FAILURE_LIMIT = 0
    # Provider/model/budget rows cached by llm.definitions belong to the previous test's
    # (rolled back) data; QuerySet.update() in tests sends no signal either.
    from llm import definitions

    definitions.forget()
    yield
    definitions.forget()
    # The background writer's queue is this test's: stored and applied while the test's storage
    # settings still hold, and its database connection let go (llm/records/interaction_writer.py).
    from llm.records import interaction_writer

    interaction_writer.settle(timeout=30)


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
    from llm import definitions
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
    definitions.forget()  # update() sends no signal
    return {p.name: p for p in LLMProvider.objects.all()}


@pytest.fixture
def celery_eager():
    """Run tasks inline (for tests of the flow, not of the worker: see the worker-marked tests)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


class WorkerPool:
    """Real ``celery worker`` processes on the real Redis broker, on queues of one test's own.

    ``start(name)`` starts a worker consuming all three queues (interactive, bulk, images) under
    this test's prefix; ``start(name, queues=[...])`` names its queues (kinds or full names).
    The test process publishes to the same prefixed queues, so nothing reaches another test's
    workers (or a developer's ``make run`` worker on the same Redis).
    """

    def __init__(self, settings, tmp_path):
        from django.db import connection

        from config.queues import queue_names

        self.prefix = f"test-{uuid.uuid4().hex[:8]}-"
        self.queues = queue_names(self.prefix)
        self.tmp_path = tmp_path
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "CELERY_BROKER_URL": os.environ["REDIS_URL"],
            "CELERY_QUEUE_PREFIX": self.prefix,
            "STORAGE_ROOT": settings.STORAGES["llm_logs"]["OPTIONS"]["location"],
            "LLM_RETRY_INITIAL_DELAY": "0.01",
            "OPENAI_API_KEY": "sk-worker-test",
        }
        self.procs = []

    def start(self, name: str = "w1", queues=None, env=None):
        names = [self.queues.get(q, q) for q in (queues or self.queues)]
        log = open(self.tmp_path / f"worker-{name}.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(names), "-P", "solo",
             "--loglevel=INFO", "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"{self.prefix}{name}@%h"],
            cwd=ROOT, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
        )
        proc.log_path = self.tmp_path / f"worker-{name}.log"
        self.procs.append((proc, log))
        return proc

    def stop_all(self):
        for proc, log in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()


@pytest.fixture
def celery_workers(settings, tmp_path):
    """A :class:`WorkerPool`; the test process routes tasks to the pool's queues while it lives."""
    from config.celery import app
    from config.queues import task_routes

    pool = WorkerPool(settings, tmp_path)
    saved = (app.conf.task_default_queue, app.conf.task_routes)
    app.conf.task_default_queue = pool.queues["interactive"]
    app.conf.task_routes = task_routes(pool.queues)
    app.amqp.flush_routes()  # Celery caches the routing table: rebuild it from the new routes
    app.amqp.router = app.amqp.Router()
    yield pool
    pool.stop_all()
    app.conf.task_default_queue, app.conf.task_routes = saved
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()


def wait_until(predicate, procs=(), what: str = "condition", timeout: float = 60.0, every: float = 0.1):
    """Poll ``predicate`` until true; fail early if one of ``procs`` (workers) died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            assert proc.poll() is None, f"the worker died (log: {getattr(proc, 'log_path', '?')})"
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (``playwright install`` cannot download browsers here)."""
    from playwright.sync_api import expect, sync_playwright

    # expect()'s own wait (5 s by default) as long as the pages' default timeout: a loaded 2-core
    # machine running the suite in parallel can take longer than 5 s to finish a generation.
    expect.set_options(timeout=15_000)
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


@pytest.fixture
def asgi_live_server(transactional_db):
    """The ASGI application under uvicorn in a thread (pytest-django's live_server is WSGI, which
    would hand each server-sent-events stream over in one piece at its end)."""
    import threading

    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.core.asgi import get_asgi_application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(ASGIStaticFilesHandler(get_asgi_application()), log_level="warning",
                                           lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)

    class Live:
        url = f"http://127.0.0.1:{port}"

    yield Live
    server.should_exit = True
    thread.join(10)
    sock.close()
    # The server ran Django's sync code in asgiref's executor threads, whose connections outlive
    # it: end them, or the test database cannot be flushed and dropped.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def asgi_page(browser, asgi_live_server):
    context = browser.new_context(base_url=asgi_live_server.url)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def background_tasks(monkeypatch):
    """``task.delay(...)`` runs the task in a thread of this process (a stand-in worker that shares
    the test's Redis and database), so a page sees it run and stream instead of waiting for it."""
    import threading

    from celery.app.task import Task
    from django.db import connection

    threads = []

    def delay(self, *args, **kwargs):
        def work():
            try:
                self(*args, **kwargs)
            finally:
                connection.close()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        threads.append(thread)

    monkeypatch.setattr(Task, "delay", delay)
    yield threads
    for thread in threads:
        thread.join(15)
