"""Web load: the pages people open most, and the segmentation results page at 2,000 and 20,000 products.

Builds a scratch PostgreSQL database (created if missing, migrated, filled: one user with 30 notes,
one note with a realistic body and page section and ten finished artifacts, 500 logged LLM calls for
the dashboard, and one finished segmentation run per size in ``--sizes``, written straight to the
tables in the shape the pipeline leaves: segments, first-pass and refined rows, one index row per
call; and the same page of a run of the smallest size that is still running, which nothing caches),
starts the app under gunicorn (DEBUG off, like production), signs in one session per
connection, then drives each page with wrk (Debian's `wrk` package) for DURATION seconds, the
sessions used in turn. Prints bytes, requests/s, p50/p95/p99 latency and the count of non-2xx
answers and socket errors per page, then the results pages against the notes list.

    .venv/bin/python bench/web_load.py [--duration 30] [--rounds 3] [--connections 8] [--workers 3] [--sizes 2000,20000]
        [--db-url postgres://postgres@127.0.0.1:5432/webbench] [--keep-db] [--strict] [--tiny]

Targets (issue 24): every results page serves at least half the requests/s of the notes list in the
same run, and its HTML stays under 60 KB. Exit status 1 on a non-2xx answer or a socket error (and,
with --strict, on a missed target). ``--tiny`` (1 s a page, 2 connections, 1 worker, a 200-product
run) only checks that the script runs (tests/test_bench_scripts.py). The database is dropped
afterwards unless --keep-db (or --db-url names one that already existed).
"""

import argparse
import base64
import os
import platform
import re
import shutil
import signal
import socket
import statistics
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


def database_exists(url: str) -> bool:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_data(sizes: list[int], sessions: int) -> dict:
    """Migrate, fill the database and return the paths to load and the session keys."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from artifacts.models import ArtifactType, NoteArtifact
    from llm.models import LLMQuery
    from llm.records.rollups import rebuild
    from notes.models import Note
    from segmentation.tests.fakes import make_finished_run, make_products

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    user = user_model.objects.filter(username="webbench").first() or user_model.objects.create_user("webbench", password="x" * 16)
    Note.objects.bulk_create([
        Note(owner=user, page_url=f"https://example.com/articles/{i}", page_title=f"Article {i} on retries and backoff",
             body=NOTE_BODY[:600]) for i in range(30)])
    note = Note.objects.create(
        owner=user, page_url="https://example.com/articles/resilient-api-clients", page_title="Resilient API clients",
        page_metadata={"author": "A. Writer", "published": "2026-10-01", "tags": ["http", "retries"]},
        page_section_html=PAGE_HTML, highlighted_text="Honour Retry-After up to a cap, then back off with jitter.",
        body=NOTE_BODY,
    )
    kinds = [ArtifactType.SUMMARY, ArtifactType.KEY_POINTS, ArtifactType.EXPLANATION]
    for i in range(10):
        NoteArtifact.objects.create(
            note=note, owner=user, artifact_type=kinds[i % 3], status=NoteArtifact.Status.COMPLETED, provider="openai",
            model="gpt-4o-mini", content=("A generated paragraph about retries and backoff. " * 30), version=1 + i // 3,
            input_tokens=1200, output_tokens=300,
        )
    LLMQuery.objects.bulk_create([
        LLMQuery(user=user, purpose=["artifacts.summary", "segmentation.extract_taxonomy", "products.generate"][i % 3],
                 provider_name="openai", model_name="gpt-4o-mini", input_tokens=900, output_tokens=200,
                 cost_usd="0.00025500", latency_ms=800 + i, status="ok" if i % 20 else "error", attempt=1)
        for i in range(500)])
    rebuild()
    pages = {"notes list": "/notes/", "note, 10 artifacts": note.get_absolute_url(), "dashboard": "/llm/dashboard/"}
    for size in sizes:
        ids = make_products(size, category=f"Dimmer Switches {size}")
        run = make_finished_run(user, ids, segments=max(4, min(60, size // 170)))
        pages[f"results, {size:,} products"] = f"/segmentation/runs/{run.pk}/results/"
    # The same page of a run still in progress: nothing of it is cached, every request renders it all.
    ids = make_products(sizes[0], category=f"Dimmer Switches {sizes[0]} running")
    run = make_finished_run(user, ids, segments=max(4, min(60, sizes[0] // 170)))
    type(run).objects.filter(pk=run.pk).update(status="running", finished_at=None)
    pages[f"results, {sizes[0]:,}, uncached"] = f"/segmentation/runs/{run.pk}/results/"

    keys = []
    for _ in range(sessions):
        client = Client()
        client.force_login(user)
        keys.append(client.cookies["sessionid"].value)
    return {"sessions": keys, "pages": pages}


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
    parser.add_argument("--db-url", default=None, help="a scratch PostgreSQL database (default: "
                        "DATABASE_URL's server, database <name>_webload)")
    parser.add_argument("--duration", type=int, default=30, help="seconds of load per page")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all the pages (each gets duration/rounds s)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--sizes", default="2000,20000", help="products of the segmentation runs whose results page is loaded")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a results page misses a target")
    parser.add_argument("--tiny", action="store_true", help="1 s a page, 2 connections, 1 worker, a 200-product run")
    args = parser.parse_args(argv)
    if args.tiny:
        args.duration, args.connections, args.workers, args.sizes, args.rounds = 1, 2, 1, "200", 1
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    db_url = args.db_url or default_db_url()

    storage = tempfile.mkdtemp(prefix="webbench-storage-")
    env = {
        **os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "false",
        "STORAGE_ROOT": storage, "CELERY_TASK_ALWAYS_EAGER": "false", "LOG_LEVEL": "WARNING",
        # DEBUG off needs real secrets (config/keys.py): throwaway ones for the scratch database.
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-" + os.urandom(24).hex(),
        "FIELD_ENCRYPTION_KEY": os.environ.get("FIELD_ENCRYPTION_KEY") or base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # whitenoise warns once per worker that collectstatic was not run; no static file is requested here.
        "PYTHONWARNINGS": "ignore:No directory at",
    }
    os.environ.update(env)
    existed = database_exists(db_url)
    ensure_database(db_url)
    gunicorn = None
    try:
        data = build_data(sizes, sessions=args.connections)
        from django.core.cache import cache
        from django.db import connections

        cache.clear()  # a results page cached by an earlier run of the bench would flatter this one
        connections.close_all()
        port = free_port()
        gunicorn = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.workers), "--worker-class", "sync", "--preload", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(base + data["pages"]["notes list"], data["sessions"][0])
        script = Path(storage) / "webload.lua"
        script.write_text(WRK_SCRIPT)
        print(f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}: {os.cpu_count()} CPUs, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"gunicorn: {args.workers} sync workers on {base}; wrk: {args.connections} connections "
              f"({len(data['sessions'])} sessions), {args.duration} s per page in {args.rounds} rounds over all pages "
              "(medians over the rounds)")
        print(f"{'page':<26} {'bytes':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}")
        failed = False
        for name, path in data["pages"].items():
            for _ in range(2 * args.workers):  # warm every worker (template cache, database connection)
                check_page(base + path, data["sessions"][min(1, len(data["sessions"]) - 1)])
        # Rounds over all the pages in turn: a change in the machine's load hits every page alike.
        runs: dict[str, list[dict]] = {name: [] for name in data["pages"]}
        per_round = max(1, args.duration // args.rounds)
        for _ in range(args.rounds):
            for name, path in data["pages"].items():
                runs[name].append(run_wrk(base + path, data["sessions"], duration=per_round, connections=args.connections,
                                          threads=min(4, os.cpu_count() or 1, args.connections), script=str(script)))
        figures = {}
        for name, path in data["pages"].items():
            rounds = runs[name]
            fig = {key: statistics.median(r[key] for r in rounds) for key in ("rps", "p50_us", "p95_us", "p99_us")}
            for key in ("non2xx", "connect", "read", "write", "timeout"):
                fig[key] = sum(r[key] for r in rounds)
            fig["bytes"] = size = check_page(base + path, data["sessions"][0])
            figures[name] = fig
            errors = fig["connect"] + fig["read"] + fig["write"] + fig["timeout"]
            failed |= bool(fig["non2xx"] or errors)
            print(f"{name:<26} {size:>8} {fig['rps']:>8.1f} {fig['p50_us'] / 1000:>8.1f} {fig['p95_us'] / 1000:>8.1f} "
                  f"{fig['p99_us'] / 1000:>8.1f} {fig['non2xx']:>8} {errors:>7}"
                  + ("   (rounds: " + ", ".join(f"{r['rps']:.0f}" for r in rounds) + " req/s)" if len(rounds) > 1 else ""))
        notes_rps = figures["notes list"]["rps"]
        missed = False
        for name, fig in figures.items():
            if name.startswith("results"):
                ratio = fig["rps"] / notes_rps if notes_rps else 0.0
                ok = ratio >= 0.5 and fig["bytes"] < 60_000
                missed |= not ok
                print(f"{name}: {ratio:.2f}x the notes list's requests/s (target >= 0.5x), {fig['bytes'] / 1000:.1f} KB "
                      f"(target < 60 KB) -> {'meets' if ok else 'MISSES'} the targets")
        return 1 if failed or (args.strict and missed) else 0
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            gunicorn.wait(timeout=30)
        shutil.rmtree(storage, ignore_errors=True)
        if not args.keep_db and not existed:
            from django.db import connections

            connections.close_all()
            drop_database(db_url)


if __name__ == "__main__":
    sys.exit(main())
