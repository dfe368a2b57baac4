"""Our overhead per model call: ``llm.complete`` minus the bare SDK call, against a fake provider answering at once.

Both paths call the same loopback server with the official OpenAI SDK, one right after the
other (so a busy machine slows both alike). ``llm.complete`` also does everything it does in
production: picks provider and model, writes the LLMQuery row before the call and updates it
after (with the daily rollup and the answer-cache entry), writes the interaction JSON file with
its sha256, and checks budgets and rate limits. Target (issues #7/#9): overhead p50 under 5 ms,
in line with LiteLLM's published ~4 ms for a proxy that logs less.

Each iteration also makes the same call through LiteLLM (``litellm.completion``, as shipped, to the
same server; its cost map read from its own package, not fetched) and through ``llm.complete`` with
``LLM_INTERACTION_WRITES=inline`` (the interaction file and then the final row written before
``complete()`` returns, the code before the background writer), so all four paths share the
machine's load. In background mode (the default) the final row update and the file are journaled
and the background writer applies them in batches (llm/records/interaction_writer.py): the round
trips counted per call are those on the answer path (the main thread's connection), and the
writer's batches are reported apart. Targets (issue 24): our p99
overhead at or below LiteLLM's, our p50 at most 0.6x LiteLLM's.

Scenarios: ``plain`` (no budget, no rate limit, ``cache=False``: the row's insert overlaps the
SDK's building of the request), ``miss`` (the answer cache on and every question new: the
lookup must be answered before anything is sent, so the row's insert rides with it and the round
trip stays on the path) and ``budget`` (a global daily budget, so every call also reserves and
settles). Each runs ``--rounds`` rounds of N calls;
the figures are the medians over the rounds of each round's p50, p95 and p99, of wall time and of
this process's CPU time (the CPU figure barely moves when other jobs load the machine; the
wall figure includes the database's and Redis's time too). Database statements per call are
counted with CaptureQueriesContext (a multi-statement message counts once: one round trip).

    .venv/bin/python bench/llm_overhead.py [N=300] [--rounds 5] [--scenario plain|budget|all] [--strict]
        [--no-litellm] [--db-url postgres://…/scratch] [--tiny]

Uses PostgreSQL and Redis like production (DATABASE_URL and REDIS_URL, defaulting to the same
local servers as `make bench`), in the scratch database ``test_<name>`` it creates and drops (or, with
``--db-url``, in that existing database, migrated and left as it is). ``--strict`` exits 1 when a target
is missed. ``--tiny`` (20 calls, 1 round, plain) only checks that the script runs.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _i, _arg in enumerate(sys.argv):  # the database must be known before django.setup()
    if _arg == "--db-url" and _i + 1 < len(sys.argv):
        os.environ["DATABASE_URL"] = sys.argv[_i + 1]
    elif _arg.startswith("--db-url="):
        os.environ["DATABASE_URL"] = _arg.split("=", 1)[1]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM would fetch its price list at import
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/llmplatform_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("STORAGE_ROOT", tempfile.mkdtemp(prefix="bench-storage-"))

import django  # noqa: E402

django.setup()

import openai  # noqa: E402
from django.conf import settings  # noqa: E402

settings.DEBUG = False  # as in production (with DEBUG on, Django keeps every statement in a list)
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402

from llm.testing.fake_provider import FakeProviderServer, Reply  # noqa: E402

TARGET_P50_MS = 5.0
MESSAGES = [{"role": "user", "content": "Say ok."}]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


_asked = iter(range(10**9))


def one_round(sdk, complete, litellm_call, n: int, cache_miss: bool = False) -> dict[str, list[float]]:
    legs = ["ours", "inline"] + (["litellm"] if litellm_call else [])
    out: dict[str, list[float]] = {"bare": []}
    for leg in legs:
        out[leg], out[f"{leg}.diff"], out[f"{leg}.cpu_diff"] = [], [], []

    def ours(mode):
        settings.LLM_INTERACTION_WRITES = mode
        if cache_miss:  # the answer cache on, and a question not asked before: looked up, then sent
            messages = [{"role": "user", "content": f"Say ok. ({next(_asked):09d})"}]
        else:
            messages = MESSAGES
        complete(purpose="bench.overhead", messages=messages, provider="openai", model="gpt-4o-mini", max_tokens=16,
                 cache=cache_miss)

    calls = {"ours": lambda: ours("background"), "inline": lambda: ours("inline"), "litellm": litellm_call}
    for i in range(n):
        c0, t0 = time.thread_time(), time.perf_counter()
        sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_completion_tokens=16)
        bare, bare_cpu = time.perf_counter() - t0, time.thread_time() - c0
        out["bare"].append(bare)
        for leg in legs[i % len(legs):] + legs[:i % len(legs)]:  # each path goes first in turn
            c1, t1 = time.thread_time(), time.perf_counter()
            calls[leg]()
            wall, cpu = time.perf_counter() - t1, time.thread_time() - c1
            out[leg].append(wall)
            out[f"{leg}.diff"].append(wall - bare)
            out[f"{leg}.cpu_diff"].append(cpu - bare_cpu)
    settings.LLM_INTERACTION_WRITES = "background"
    return out


def run_scenario(name: str, sdk, complete, litellm_call, n: int, rounds: int, cache_miss: bool = False) -> dict[str, float]:
    from llm.records import interaction_writer
    from llm.models import LLMQuery

    for _ in range(min(30, n)):  # warm up every path (imports, connection pools, caches)
        sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_completion_tokens=16)
        complete(purpose="bench.warmup", messages=MESSAGES, provider="openai", model="gpt-4o-mini", max_tokens=16,
                 cache=False)
        if litellm_call:
            litellm_call()
    connection.queries_log.clear()  # (a full log would make the count below read 0)
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(20):
            complete(purpose="bench.count", messages=MESSAGES, provider="openai", model="gpt-4o-mini", max_tokens=16,
                     cache=False)
    per_call = len(ctx.captured_queries) / 20
    assert interaction_writer.flush(timeout=60)
    batches0, rows0 = interaction_writer._writer.batches, interaction_writer._writer.rows_applied
    cpu0 = interaction_writer._writer.cpu_seconds
    stats: dict[str, list[float]] = {}
    for _ in range(rounds):
        r = one_round(sdk, complete, litellm_call, n, cache_miss=cache_miss)
        for key, values in r.items():
            stats.setdefault(f"{key}.p50", []).append(statistics.median(values) * 1000)
            stats.setdefault(f"{key}.p95", []).append(pct(values, 0.95))
            stats.setdefault(f"{key}.p99", []).append(pct(values, 0.99))
    assert interaction_writer.flush(timeout=60), "the background writer did not catch up"
    batches = interaction_writer._writer.batches - batches0
    rows = interaction_writer._writer.rows_applied - rows0
    writer_cpu = interaction_writer._writer.cpu_seconds - cpu0
    last = LLMQuery.objects.filter(purpose="bench.overhead").order_by("-id").first()
    assert last is not None and last.status == "ok" and last.file_sha256, "the calls were not logged as expected"
    from llm.records import interactions

    assert interactions.verify(last.file_path, last.file_sha256), "the last interaction file is not as logged"

    def med(key: str) -> float:
        return statistics.median(stats[key])

    def line(label: str, key: str) -> str:
        return f"  {label:<34} p50 {med(key + '.p50'):6.2f} ms   p95 {med(key + '.p95'):6.2f} ms   p99 {med(key + '.p99'):6.2f} ms"

    print(f"\n[{name}] {rounds} rounds x {n} sequential calls per path; medians over the rounds")
    print(line("bare SDK call", "bare"))
    print(line("llm.complete", "ours"))
    print(line("overhead (wall), background writer", "ours.diff"))
    print(line("overhead (wall), inline file write", "inline.diff"))
    if litellm_call:
        print(line("overhead (wall), LiteLLM", "litellm.diff"))
    print(line("overhead (our CPU), background", "ours.cpu_diff"))
    if litellm_call:
        print(line("overhead (LiteLLM's CPU)", "litellm.cpu_diff"))
    print(f"  database round trips per call on the answer path: {per_call:g}")
    if batches:
        print(f"  background writer: {rows} row updates in {batches} batches ({rows / batches:.1f} per batch), "
              f"its CPU {writer_cpu / rows * 1000:.2f} ms per call (off the answer path, not in the CPU line above)")
    return {k: med(k) for k in stats}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=300, help="calls per round (default 300)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scenario", choices=["plain", "miss", "budget", "all"], default="all")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out (when it is not installed)")
    parser.add_argument("--db-url", help="an existing scratch database to use (migrated, not dropped)")
    parser.add_argument("--tiny", action="store_true", help="20 calls, 1 round, plain: does the script still run?")
    args = parser.parse_args()
    if args.tiny:
        args.n, args.rounds, args.scenario = 20, 1, "plain"

    if args.db_url:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        old = None
    else:
        old = setup_databases(verbosity=0, interactive=False)
    server = FakeProviderServer().start()
    server.set_default(Reply(text="ok", usage={"input_tokens": 50, "output_tokens": 5}))
    try:
        from llm import definitions
        from llm.bootstrap import ensure_defaults
        from llm.models import Budget, LLMProvider
        from llm.calls import complete

        ensure_defaults()
        os.environ["OPENAI_API_KEY"] = "sk-bench"
        LLMProvider.objects.filter(name="openai").update(base_url=server.openai_base_url)
        definitions.forget()  # update() sends no signal
        sdk = openai.OpenAI(api_key="sk-bench", base_url=server.openai_base_url, max_retries=0)
        litellm_call = None
        if not args.no_litellm:
            try:
                import litellm
            except ImportError:
                print("LiteLLM is not installed (pip install -r bench/requirements.txt); comparing without it")
            else:
                import logging

                litellm.telemetry = False
                litellm.suppress_debug_info = True
                for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                    logging.getLogger(name).setLevel(logging.WARNING)

                def litellm_call():
                    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, max_tokens=16,
                                       api_base=server.openai_base_url, api_key="sk-bench", num_retries=0)
        print(f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}; database: {connection.vendor} "
              f"{connection.settings_dict['NAME']}; {os.cpu_count()} CPUs; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        plain = None
        if args.scenario in ("plain", "all"):
            plain = run_scenario("plain: no budget, no rate limit", sdk, complete, litellm_call, args.n, args.rounds)
        if args.scenario in ("miss", "all"):
            run_scenario("miss: the answer cache on, every question new (looked up, then sent)", sdk, complete,
                         litellm_call, args.n, args.rounds, cache_miss=True)
        if args.scenario in ("budget", "all"):
            Budget.objects.create(period=Budget.Period.DAY, limit_usd=Decimal("1000000"))
            run_scenario("budget: a global daily budget, reserved and settled per call", sdk, complete, litellm_call,
                         args.n, args.rounds)
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        missed = False
        if plain is not None:
            p50 = plain["ours.diff.p50"]
            verdict = "meets" if p50 <= TARGET_P50_MS else "MISSES"
            print(f"plain overhead p50 {p50:.2f} ms {verdict} the {TARGET_P50_MS:g} ms target")
            if litellm_call is not None:
                l50, l99, o99 = plain["litellm.diff.p50"], plain["litellm.diff.p99"], plain["ours.diff.p99"]
                ok50, ok99 = p50 <= 0.6 * l50, o99 <= l99
                missed = not (ok50 and ok99)
                print(f"against LiteLLM in the same run: p50 {p50:.2f} vs {l50:.2f} ms = {p50 / l50:.2f}x (target <= 0.6x) "
                      f"{'meets' if ok50 else 'MISSES'}; p99 {o99:.2f} vs {l99:.2f} ms "
                      f"{'meets' if ok99 else 'MISSES'} (target <= LiteLLM's)")
            missed |= p50 > TARGET_P50_MS
        return 1 if args.strict and missed else 0
    finally:
        server.stop()
        if old is not None:
            teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
