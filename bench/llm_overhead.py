"""Our overhead per model call: ``llm.complete`` minus the bare SDK call, against a fake provider answering at once.

Both paths call the same loopback server with the official OpenAI SDK, one right after the
other (so a busy machine slows both alike). ``llm.complete`` also does everything it does in
production: picks provider and model, writes the LLMQuery row before the call and updates it
after (with the daily rollup and the answer-cache entry), writes the interaction JSON file with
its sha256, and checks budgets and rate limits. Target (issues #7/#9): overhead p50 under 5 ms,
in line with LiteLLM's published ~4 ms for a proxy that logs less.

Scenarios: ``plain`` (no budget, no rate limit: the usual case) and ``budget`` (a global daily
budget, so every call also reserves and settles). Each runs ``--rounds`` rounds of N calls;
the figures are the medians over the rounds of each round's p50 and p95, of wall time and of
this process's CPU time (the CPU figure barely moves when other jobs load the machine; the
wall figure includes the database's and Redis's time too). Database statements per call are
counted with CaptureQueriesContext (a multi-statement message counts once: one round trip).

    .venv/bin/python bench/llm_overhead.py [N=300] [--rounds 5] [--scenario plain|budget|all] [--strict]

Uses PostgreSQL and Redis like production (DATABASE_URL and REDIS_URL, defaulting to the same
local servers as `make bench`), in the scratch database ``test_<name>`` it creates and drops.
``--strict`` exits 1 when the plain overhead p50 misses the target.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/llmplatform_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("STORAGE_ROOT", tempfile.mkdtemp(prefix="bench-storage-"))

import django  # noqa: E402

django.setup()

import openai  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402

from llm.testing.fake_provider import FakeProviderServer, Reply  # noqa: E402

TARGET_P50_MS = 5.0
MESSAGES = [{"role": "user", "content": "Say ok."}]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


def one_round(sdk, complete, n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"bare": [], "ours": [], "diff": [], "cpu_diff": []}
    for i in range(n):
        c0, t0 = time.thread_time(), time.perf_counter()
        sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_completion_tokens=16)
        c1, t1 = time.thread_time(), time.perf_counter()
        complete(purpose="bench.overhead", messages=MESSAGES, provider="openai", model="gpt-4o-mini", max_tokens=16,
                 cache=False)
        c2, t2 = time.thread_time(), time.perf_counter()
        out["bare"].append(t1 - t0)
        out["ours"].append(t2 - t1)
        out["diff"].append((t2 - t1) - (t1 - t0))
        out["cpu_diff"].append((c2 - c1) - (c1 - c0))
    return out


def run_scenario(name: str, sdk, complete, n: int, rounds: int) -> float:
    from llm.models import LLMQuery

    for _ in range(30):  # warm up both paths (imports, connection pools, caches)
        sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_completion_tokens=16)
        complete(purpose="bench.warmup", messages=MESSAGES, provider="openai", model="gpt-4o-mini", max_tokens=16,
                 cache=False)
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(20):
            complete(purpose="bench.count", messages=MESSAGES, provider="openai", model="gpt-4o-mini", max_tokens=16,
                     cache=False)
    per_call = len(ctx.captured_queries) / 20
    stats: dict[str, list[float]] = {}
    for _ in range(rounds):
        r = one_round(sdk, complete, n)
        for key, values in r.items():
            stats.setdefault(f"{key}.p50", []).append(statistics.median(values) * 1000)
            stats.setdefault(f"{key}.p95", []).append(pct(values, 0.95))
    last = LLMQuery.objects.filter(purpose="bench.overhead").order_by("-id").first()
    assert last is not None and last.status == "ok" and last.file_sha256, "the calls were not logged as expected"

    def med(key: str) -> float:
        return statistics.median(stats[key])

    print(f"\n[{name}] {rounds} rounds x {n} sequential calls; medians over the rounds")
    print(f"  bare SDK call        p50 {med('bare.p50'):6.2f} ms   p95 {med('bare.p95'):6.2f} ms")
    print(f"  llm.complete         p50 {med('ours.p50'):6.2f} ms   p95 {med('ours.p95'):6.2f} ms")
    print(f"  overhead (wall)      p50 {med('diff.p50'):6.2f} ms   p95 {med('diff.p95'):6.2f} ms"
          f"   (round p50s: {', '.join(f'{v:.2f}' for v in stats['diff.p50'])})")
    print(f"  overhead (our CPU)   p50 {med('cpu_diff.p50'):6.2f} ms   p95 {med('cpu_diff.p95'):6.2f} ms")
    print(f"  database round trips per call: {per_call:g}")
    return med("diff.p50")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=300, help="calls per round (default 300)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scenario", choices=["plain", "budget", "all"], default="all")
    parser.add_argument("--strict", action="store_true", help=f"exit 1 when the plain p50 exceeds {TARGET_P50_MS} ms")
    args = parser.parse_args()

    old = setup_databases(verbosity=0, interactive=False)
    server = FakeProviderServer().start()
    server.set_default(Reply(text="ok", usage={"input_tokens": 50, "output_tokens": 5}))
    try:
        from llm import definitions
        from llm.bootstrap import ensure_defaults
        from llm.models import Budget, LLMProvider
        from llm.service import complete

        ensure_defaults()
        os.environ["OPENAI_API_KEY"] = "sk-bench"
        LLMProvider.objects.filter(name="openai").update(base_url=server.openai_base_url)
        definitions.forget()  # update() sends no signal
        sdk = openai.OpenAI(api_key="sk-bench", base_url=server.openai_base_url, max_retries=0)
        print(f"database: {connection.vendor} {connection.settings_dict['NAME']}; {os.cpu_count()} CPUs; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        plain = None
        if args.scenario in ("plain", "all"):
            plain = run_scenario("plain: no budget, no rate limit", sdk, complete, args.n, args.rounds)
        if args.scenario in ("budget", "all"):
            Budget.objects.create(period=Budget.Period.DAY, limit_usd=Decimal("1000000"))
            run_scenario("budget: a global daily budget, reserved and settled per call", sdk, complete, args.n,
                         args.rounds)
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if plain is not None:
            verdict = "meets" if plain <= TARGET_P50_MS else "MISSES"
            print(f"plain overhead p50 {plain:.2f} ms {verdict} the {TARGET_P50_MS:g} ms target")
            if args.strict and plain > TARGET_P50_MS:
                return 1
        return 0
    finally:
        server.stop()
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
