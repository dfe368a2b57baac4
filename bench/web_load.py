"""Web load: the note page and a segmentation run's pages under 50 concurrent signed-in clients.

Builds a scratch PostgreSQL database (created if missing, migrated, filled: one user, a note with
a realistic body and page section, a few finished artifacts, and a segmentation run over 200
products run to completion through the real pipeline against the fake provider on loopback), starts
the app under gunicorn (DEBUG off, like production), signs in 50 sessions, then drives each page
with wrk (Debian's `wrk` package) for DURATION seconds at 50 connections, the sessions used in
turn. Prints requests/s, p50/p95/p99 latency and the count of non-2xx answers and socket errors.

    .venv/bin/python bench/web_load.py [--db-url postgres://postgres@127.0.0.1:5432/webbench]
        [--duration 15] [--connections 50] [--workers N] [--products 200] [--keep-db]

Target: no non-2xx answer and no socket error at 50 connections (the exit status is 1 otherwise);
p95 under 1 s per page on a 2-core machine. The database is dropped afterwards unless --keep-db.
"""

import argparse
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# wrk calls request() for each request; rotating the session cookies makes the 50 connections
# 50 signed-in clients. done() prints the figures in one parseable line.
WRK_SCRIPT = r"""
local cookies = {}
for c in string.gmatch(os.getenv("WEBLOAD_COOKIES"), "[^,]+") do table.insert(cookies, c) end
local i = 0
request = function()
  i = i + 1
  local headers = {}
  headers["Cookie"] = "sessionid=" .. cookies[(i % #cookies) + 1]
  return wrk.format("GET", nil, headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WEBLOAD requests=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""

NOTE_BODY = """Why the retry loop matters more than the model.

Reading this article on resilient API clients: the author argues that most "the model is flaky"
complaints are transport problems - 429s with a Retry-After header that nobody honours, dropped
connections after 60 s behind a load balancer, and timeouts set to the library default.

Things to try in our client:
- honour Retry-After up to a cap, then back off with jitter;
- log the failed attempt as a row before retrying (so the dashboard shows them);
- keep one HTTP connection pool per provider.

Open question: should the cache key include the temperature when it is 0?
""" * 3

PAGE_HTML = "<article><h1>Resilient API clients</h1>" + "".join(
    f"<h2>Section {i}</h2><p>{'Retries, timeouts and backoff are the difference between a demo and a service. ' * 12}</p>"
    for i in range(40)
) + "</article>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_db_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url.split("?", 1)[0] + "_webload"
    return "postgres://postgres@127.0.0.1:5432/webbench"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_data(products: int, sessions: int) -> dict:
    """Migrate, fill the database and return the paths to load and the session keys."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from artifacts.models import ArtifactType, NoteArtifact
    from llm.models import LLMProvider
    from llm.testing.fake_provider import FakeProviderServer, Reply
    from notes.models import Note
    from segmentation import pipeline
    from segmentation.tests.fakes import answer, make_products, request_parts

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    user = user_model.objects.filter(username="webbench").first() or user_model.objects.create_user("webbench", password="x" * 16)
    note = Note.objects.create(
        owner=user, page_url="https://example.com/articles/resilient-api-clients", page_title="Resilient API clients",
        page_metadata={"author": "A. Writer", "published": "2026-10-01", "tags": ["http", "retries"]},
        page_section_html=PAGE_HTML, highlighted_text="Honour Retry-After up to a cap, then back off with jitter.",
        body=NOTE_BODY,
    )
    for i, kind in enumerate([ArtifactType.SUMMARY, ArtifactType.KEY_POINTS, ArtifactType.EXPLANATION, ArtifactType.SUMMARY]):
        NoteArtifact.objects.create(
            note=note, owner=user, artifact_type=kind, status=NoteArtifact.Status.COMPLETED, provider="openai",
            model="gpt-4o-mini", content=("A generated paragraph about retries and backoff. " * 30), version=1 + (i == 3),
            input_tokens=1200, output_tokens=300,
        )

    server = FakeProviderServer().start()
    server.set_default(lambda req: Reply(json=answer(*request_parts(req))))
    os.environ["WEBBENCH_API_KEY"] = "sk-webbench-0000"
    try:
        provider, _ = LLMProvider.objects.update_or_create(
            name="webbench", defaults={"kind": LLMProvider.Kind.OPENAI, "base_url": server.openai_base_url,
                                       "api_key_env": "WEBBENCH_API_KEY", "default_model": "gpt-4o-mini"})
        ids = make_products(products, category="Dimmer Switches")
        run = pipeline.start_run(owner=user, product_ids=ids, category="Dimmer Switches", provider=provider.name)
        run = pipeline.run_inline(run.pk, workers=4)
    finally:
        server.stop()
    if run.status != "completed":
        raise SystemExit(f"the segmentation run did not complete: {run.status} {run.error}")

    keys = []
    for _ in range(sessions):
        client = Client()
        client.force_login(user)
        keys.append(client.cookies["sessionid"].value)
    return {
        "sessions": keys,
        "pages": {
            "note detail": note.get_absolute_url(),
            "segmentation run": f"/segmentation/runs/{run.pk}/",
            "segmentation results": f"/segmentation/runs/{run.pk}/results/",
        },
    }


def wait_for(url: str, cookie: str, timeout: float = 120.0) -> None:
    # Generous: on a busy 2-core machine a worker's first request (imports, connections) is slow.
    deadline = time.monotonic() + timeout
    while True:
        try:
            req = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                if resp.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def check_page(url: str, cookie: str) -> int:
    """Bytes of the page; fails when it does not answer 200 to a signed-in client (e.g. a login redirect)."""
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})
    with opener.open(req, timeout=60) as resp:
        body = resp.read()
        if resp.status != 200:
            raise SystemExit(f"{url} answered {resp.status}")
    return len(body)


def run_wrk(url: str, cookies: list[str], *, duration: int, connections: int, threads: int, script: str) -> dict:
    env = {**os.environ, "WEBLOAD_COOKIES": ",".join(cookies)}
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", script, url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WEBLOAD "))
    fig = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
    fig["rps"] = fig["requests"] / (fig["duration_us"] / 1e6)
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=default_db_url(), help="a scratch PostgreSQL database (default: "
                        "DATABASE_URL's server, database <name>_webload)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per page")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn worker processes")
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2

    storage = tempfile.mkdtemp(prefix="webbench-storage-")
    env = {
        **os.environ, "DATABASE_URL": args.db_url, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "false",
        "STORAGE_ROOT": storage, "CELERY_TASK_ALWAYS_EAGER": "false", "LOG_LEVEL": "WARNING",
        # DEBUG off needs real secrets (config/keys.py): throwaway ones for the scratch database.
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-" + os.urandom(24).hex(),
        "FIELD_ENCRYPTION_KEY": os.environ.get("FIELD_ENCRYPTION_KEY") or base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # whitenoise warns once per worker that collectstatic was not run; no static file is requested here.
        "PYTHONWARNINGS": "ignore:No directory at",
    }
    os.environ.update(env)
    ensure_database(args.db_url)
    gunicorn = None
    try:
        data = build_data(args.products, sessions=args.connections)
        from django.db import connections

        connections.close_all()
        port = free_port()
        gunicorn = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.workers), "--worker-class", "sync", "--preload", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(base + data["pages"]["note detail"], data["sessions"][0])
        script = Path(storage) / "webload.lua"
        script.write_text(WRK_SCRIPT)
        print(f"gunicorn: {args.workers} sync workers on {base}; wrk: {args.connections} connections "
              f"({len(data['sessions'])} sessions), {args.duration} s per page; {os.cpu_count()} CPUs")
        print(f"{'page':<22} {'bytes':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}")
        failed = False
        for name, path in data["pages"].items():
            size = check_page(base + path, data["sessions"][0])
            for _ in range(2 * args.workers):  # warm every worker (template cache, database connection)
                check_page(base + path, data["sessions"][1])
            fig = run_wrk(base + path, data["sessions"], duration=args.duration, connections=args.connections,
                          threads=min(4, os.cpu_count() or 1), script=str(script))
            errors = fig["connect"] + fig["read"] + fig["write"] + fig["timeout"]
            failed |= bool(fig["non2xx"] or errors)
            print(f"{name:<22} {size:>8} {fig['rps']:>8.1f} {fig['p50_us'] / 1000:>8.1f} {fig['p95_us'] / 1000:>8.1f} "
                  f"{fig['p99_us'] / 1000:>8.1f} {fig['non2xx']:>8} {errors:>7}")
        return 1 if failed else 0
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            gunicorn.wait(timeout=30)
        shutil.rmtree(storage, ignore_errors=True)
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(args.db_url)


if __name__ == "__main__":
    sys.exit(main())
