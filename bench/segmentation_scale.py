"""Segmentation at scale: the segmentation bench at 2,000 and 20,000 products (issue 7).

For each size, ``python -m segmentation.bench --json`` runs in a fresh process (so each size's
memory is its own) against the fake provider answering after ``--delay`` seconds, with
``--concurrency`` LLM requests in flight at most (the model's max_concurrent; ``--workers`` batches
side by side, default 1.5 times that), and this script prints per size:

* LLM calls per stage against the expected count (no faults: exactly the extract batches,
  the consolidation calls of every level, the refine batches),
* wall time against the ideal critical path (per stage and consolidation level,
  ceil(calls / concurrency) x delay) and their ratio -- target <= 1.25,
* our own CPU per LLM call outside ``llm.complete`` (segmentation: claims, prompts, schemas,
  answer parsing, result writes, stage moves) -- target < 5 ms -- and the CPU inside it,
* peak RSS during the run and how much it grew (and, with ``--trace-memory``, a second,
  slower pass with tracemalloc's peak) -- memory should stay flat from 2,000 to 20,000.

With ``--repeat N`` every size runs N times and the medians are printed. The runs happen in a
scratch database (``--db-url``, default: DATABASE_URL's database name + ``_segscale``), created
when missing and dropped afterwards unless ``--keep-db``. The machine is what it is: quote the
CPU count and the load average with the figures (both printed).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/llmplatform .venv/bin/python bench/segmentation_scale.py \\
        [--sizes 2000,20000] [--delay 0.2] [--concurrency 8] [--workers 12] [--repeat 1] [--trace-memory] [--tiny]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]


def _scratch_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_segscale"))


def _admin(url: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


def _exists(url: str) -> bool:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [parts.path.lstrip("/")]).fetchone() is not None


def run_once(url: str, size: int, args, trace: bool = False, mode: str = "threads") -> dict:
    cmd = [sys.executable, "-m", "segmentation.bench", "--products", str(size), "--delay", str(args.delay),
           "--concurrency", str(args.concurrency), "--json"] + (["--workers", str(args.workers)] if args.workers else []) + (["--trace-memory"] if trace else []) + (
           ["--celery"] if mode == "celery" else [])
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"the bench at {size} products failed (exit {done.returncode})")
    return json.loads(lines[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,20000", help="comma-separated product counts (default 2000,20000)")
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None,
                        help="batches side by side (threads or Celery processes); default concurrency * 1.5")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; medians are printed")
    parser.add_argument("--trace-memory", action="store_true", help="one more pass per size under tracemalloc")
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="40 products, 10 ms answers, 2 in flight, threads only: "
                        "does the script still run? (tests/test_bench_scripts.py)")
    parser.add_argument("--modes", default="celery,threads",
                                help="celery (a real prefork worker with --workers processes, as in production) and/or "
                             "threads (run_inline: --workers threads in one process, as `manage.py segment` runs)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.sizes, args.delay, args.concurrency, args.workers, args.modes = "40", 0.01, 2, 2, "threads"
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes must be comma-separated integers, e.g. 2000,20000")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"celery", "threads"}:
        parser.error("--modes takes celery and/or threads, e.g. celery,threads")
    if not sizes or min(sizes) < 1 or args.repeat < 1:
        parser.error("--sizes needs positive product counts and --repeat at least 1")
    base = os.environ.get("DATABASE_URL", "")
    if not args.db_url and not base.startswith("postgres"):
        parser.error("set DATABASE_URL to a PostgreSQL URL (or pass --db-url)")
    url = args.db_url or _scratch_url(base)
    created = False
    if not _exists(url):
        _admin(url, f'CREATE DATABASE "{urlsplit(url).path.lstrip("/")}"')
        created = True
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"fake delay {args.delay * 1000:.0f} ms, concurrency {args.concurrency}, {args.repeat} run(s) per size")
    failed = False
    try:
        for size, mode in [(size, mode) for size in sizes for mode in modes]:
            runs = [run_once(url, size, args, mode=mode) for _ in range(args.repeat)]
            med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
            calls, expected = runs[0]["calls"], runs[0]["expected_calls"]
            ok = all(r["calls_ok"] and r["status"] == "completed" and r["peak_in_flight"] <= args.concurrency for r in runs)
            failed |= not ok
            print(f"\n{size:,} products, " + ("Celery prefork worker" if mode == "celery" else "threads in one process"))
            print(f"  calls per stage: extract {calls['segmentation']}/{expected['segmentation']}, consolidate "
                  f"{calls['consolidate_taxonomy']}/{expected['consolidate_taxonomy']}, refine "
                  f"{calls['refine_assignments']}/{expected['refine_assignments']} (got/expected), cache hits "
                  f"{max(r['cache_hits'] for r in runs)} -> {'OK' if ok else 'MISMATCH'}")
            print(f"  requests in flight at the fake provider: peak {max(r['peak_in_flight'] for r in runs)} "
                  f"(limit {args.concurrency}, {runs[0]['workers']} {'processes' if mode == 'celery' else 'threads'})")
            print(f"  wall {med('wall_s'):.2f} s (setup {med('setup_s'):.2f} s) vs ideal {runs[0]['ideal_s']:.2f} s: "
                  f"ratio {med('ratio'):.2f} (target <= 1.25), wall over ideal per call {med('overhead_per_call_ms'):.2f} ms" + (f"; runs: {', '.join(str(r['ratio']) for r in runs)}" if len(runs) > 1 else ""))
            if mode == "celery":
                print(f"  worker CPU per call, all of it (Celery, segmentation, llm service, SDK) "
                      f"{med('worker_cpu_per_call_ms'):.2f} ms")
            else:
                print(f"  own CPU per call (outside llm.complete) {med('own_cpu_per_call_ms'):.2f} ms, "
                      f"{med('own_cpu_per_call_ms_without_setup'):.2f} ms without start_run (target < 5 ms); "
                      f"inside llm.complete {med('llm_complete_cpu_per_call_ms'):.2f} ms: llm service "
                      f"{med('llm_service_cpu_per_call_ms'):.2f} ms, provider SDK and HTTP {med('sdk_cpu_per_call_ms'):.2f} ms")
            print(f"  per batch {med('batch_latency_ms'):.0f} ms wall, {med('llm_complete_latency_ms'):.0f} ms of it in "
                  f"llm.complete; batches in flight {med('mean_batches_in_flight'):.2f} of {runs[0]['workers']}")
            if mode == "celery":
                continue  # memory: the threads pass measures the pipeline's own process
            print(f"  peak RSS {med('peak_rss_mb'):.1f} MB, grew {med('rss_growth_mb'):.1f} MB during the run")
            if args.trace_memory:
                traced = run_once(url, size, args, trace=True)
                print(f"  tracemalloc peak (separate, slower pass) {traced['traced_peak_mb']:.1f} MB")
    finally:
        if created and not args.keep_db:
            _admin(url, f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
