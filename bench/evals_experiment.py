"""Bench: an N-case experiment with 3 variants against the fake provider with a model's latency.

    DATABASE_URL=... python bench/evals_experiment.py [--cases 2000] [--processes 4] [--threads 8]
                                                      [--latency 0.4-0.8] [--profile 150] [--tiny]

The experiment (products.identify_category on synthetic cases from the demo catalog, variants
v3/gpt-4o-mini, v4/gpt-4o-mini, v4/gpt-4o, answer cache off) runs the way the bulk queue runs it:
``--processes`` worker processes, each ``runner.work`` with ``--threads`` threads (the claims
spread the cases over them), started and warmed up (Django loaded, connections open) before the
clock starts. The fake provider runs in a process of its own, so its CPU is not taken from our
processes' GIL, and answers each request after a latency drawn uniformly from ``--latency``
(default 400-800 ms: what a fast model such as gpt-4o-mini or claude-haiku takes for this
request, a ~1,400-token catalog prompt and a ~40-token JSON answer; a bench at 50 ms measured
nothing a user waits for, only how fast we can burn CPU). It adds up the latencies it slept, and
answers a share of each variant's requests carelessly (``CARELESS``) so the variants' scores differ.

Printed: the wall time, the critical path (the sum of the latencies the fake slept divided by
the requests in flight: what the run would take if our own work cost nothing), their ratio
(target <= 1.3), our CPU per case, and the experiment page at that size (best of 3, with its
SQL query count; target < 300 ms). ``--profile N`` first runs N cases of the same experiment in
this process on one thread, the fake answering at once, under cProfile, and prints where the
per-case CPU goes.

It creates its dataset in the database it is given (``--db-url`` or DATABASE_URL).
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

VARIANTS = ("3:openai:gpt-4o-mini", "4:openai:gpt-4o-mini", "4:openai:gpt-4o")
# The share of answers the fake gets wrong, by (model, prompt version 4): the variants score
# differently, so the page has intervals to bootstrap and disagreements to show, as a real one does.
CARELESS = {("gpt-4o-mini", False): 0.25, ("gpt-4o-mini", True): 0.15, ("gpt-4o", True): 0.05}


def _latency(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


# --- the fake provider's process ---------------------------------------------------------------


def serve_fake(latency: tuple[float, float], seed: int) -> int:
    """The fake provider answering like evals.testing.CatalogModel("correct"), each answer after a
    latency drawn from ``latency``; on SIGTERM it prints how many requests it answered and the
    latencies it slept in total."""
    import dataclasses

    from evals.testing import CatalogModel
    from llm.testing.fake_provider import FakeProviderServer

    correct, careless = CatalogModel("correct"), CatalogModel("careless")
    rng = random.Random(seed)
    lock = threading.Lock()
    totals = {"requests": 0, "slept": 0.0}

    def answer(request):
        body = request.body or {}
        prompt = json.dumps(body.get("messages") or [])
        share = CARELESS.get((body.get("model"), "Reply with category_id" in prompt), 0.0)
        with lock:
            delay = rng.uniform(*latency)
            sloppy = rng.random() < share
            totals["requests"] += 1
            totals["slept"] += delay
        return dataclasses.replace((careless if sloppy else correct)(request), delay=delay)

    server = FakeProviderServer().start()
    server.set_default(answer)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(json.dumps({"url": server.url}), flush=True)
    stop.wait()
    peak = server.peak_in_flight
    server.stop()
    print(json.dumps({**totals, "peak_in_flight": peak, "cpu": time.process_time()}), flush=True)
    return 0


class FakeProcess:
    def __init__(self, latency: tuple[float, float], seed: int = 1):
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-fake", f"{latency[0]}-{latency[1]}",
                                      "--seed", str(seed)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.url = json.loads(self.proc.stdout.readline())["url"]

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


# --- a worker process --------------------------------------------------------------------------


def work(experiment_id: int, threads: int) -> int:
    """One worker process: set up, say "ready", wait for "go", run the experiment's cases."""
    import django

    django.setup()
    from django.db import connection

    from evals import runner

    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    started = time.monotonic()
    runner.work(experiment_id, concurrency=threads)
    print(json.dumps({"seconds": time.monotonic() - started, "cpu": time.process_time() - cpu}), flush=True)
    return 0


def run_in_processes(experiment_id: int, processes: int, threads: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the worker processes) from "go" to the last one finishing."""
    workers = [subprocess.Popen([sys.executable, __file__, "--work", str(experiment_id), "--threads", str(threads)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
               for _ in range(processes)]
    for w in workers:
        if w.stdout.readline().strip() != "ready":
            raise SystemExit("a worker process did not start")
    started = time.monotonic()
    for w in workers:
        w.stdin.write("go\n")
        w.stdin.flush()
    cpu = 0.0
    for w in workers:
        out, _ = w.communicate(timeout=1800)
        if w.returncode:
            raise SystemExit(f"a worker process exited {w.returncode}")
        cpu += json.loads(out.strip().splitlines()[-1])["cpu"]
    return time.monotonic() - started, cpu


# --- the bench ---------------------------------------------------------------------------------


def _point_openai_at(url: str) -> None:
    from llm import definitions
    from llm.models import LLMProvider

    LLMProvider.objects.filter(name="openai").update(base_url=url + "/v1")
    definitions.forget()


def _experiment(cases: int, name: str):
    from evals import registry, runner
    from evals.importing import replace_cases
    from products.evals import identify_cases

    base = identify_cases()
    rows = [{**base[i % len(base)], "key": f"{name}-{i}",
             "input": {"text": base[i % len(base)]["input"]["text"] + f"\n(bench case {i})"}} for i in range(cases)]
    dataset = replace_cases(name=f"bench.identify_category.{name}", suite="products.identify_category", cases=rows)
    suite = registry.get("products.identify_category")
    return runner.create_experiment(suite=suite.name, dataset=dataset, variants=[runner.parse_variant(v, suite) for v in VARIANTS],
                                    use_cache=False, trigger="bench")


def profile(cases: int, out: str = "") -> None:
    """N cases on one thread in this process, the fake answering at once, under cProfile."""
    import cProfile
    import pstats

    from evals import runner

    fake = FakeProcess((0.0, 0.0))
    try:
        _point_openai_at(fake.url)
        runner.work(_experiment(2, "warm-up").pk, concurrency=1)  # the SDK client, imports, first queries
        experiment = _experiment(max(1, cases // len(VARIANTS)), "profile")
        calls = experiment.variants.count() * experiment.dataset.cases.count()
        profiler = cProfile.Profile()
        cpu, started = time.process_time(), time.monotonic()
        profiler.enable()
        runner.work(experiment.pk, concurrency=1)
        profiler.disable()
        cpu, wall = time.process_time() - cpu, time.monotonic() - started
    finally:
        fake.stop()
    print(f"profile: {calls} cases on one thread, fake answering at once: {cpu / calls * 1000:.1f} ms CPU and "
          f"{wall / calls * 1000:.1f} ms wall per case (ours, the fake's CPU is in its own process)")
    stats = pstats.Stats(profiler)
    if out:
        stats.dump_stats(out)
    stats.sort_stats("tottime").print_stats(22)
    stats.sort_stats("cumulative").print_stats(r"(evals|products|llm)/", 25)


def page_render(experiment) -> tuple[list[float], int]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = Client()
    client.force_login(staff)
    times, queries = [], 0
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            t = time.monotonic()
            response = client.get(experiment.get_absolute_url())
            times.append((time.monotonic() - t) * 1000)
        assert response.status_code == 200, response.status_code
        queries = len(captured)
    return times, queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--latency", default="0.4-0.8", help="seconds, LOW-HIGH (uniform) or one value")
    parser.add_argument("--processes", type=int, default=4, help="worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="first profile N cases (cProfile)")
    parser.add_argument("--profile-out", default="", metavar="FILE", help="also save the profile (pstats) there")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-url", help="the database to use (default: DATABASE_URL)")
    parser.add_argument("--tiny", action="store_true", help="20 cases, 2 processes x 2 threads, 10 ms: checks that it runs")
    parser.add_argument("--serve-fake", metavar="LATENCY", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=int, metavar="EXPERIMENT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.db_url:
        os.environ["DATABASE_URL"] = args.db_url
    if args.serve_fake is not None:
        return serve_fake(_latency(args.serve_fake), args.seed)
    if args.work is not None:
        return work(args.work, args.threads)
    if args.tiny:
        args.cases, args.latency, args.processes, args.threads = 20, "0.01", 2, 2
        args.profile = args.profile and 9
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")  # the worker processes inherit it

    import django

    django.setup()
    from django.core.cache import cache
    from django.test.utils import setup_test_environment

    from llm.bootstrap import ensure_defaults
    from products.demo import seed_catalog

    setup_test_environment()
    seed_catalog()
    cache.clear()
    ensure_defaults()
    if args.profile:
        profile(args.profile, args.profile_out)

    latency = _latency(args.latency)
    fake = FakeProcess(latency, args.seed)
    try:
        _point_openai_at(fake.url)
        experiment = _experiment(args.cases, "run")
        calls = experiment.variants.count() * args.cases
        in_flight = args.processes * args.threads
        load_before = os.getloadavg()
        wall, cpu = run_in_processes(experiment.pk, args.processes, args.threads)
        load_after = os.getloadavg()
    finally:
        slept = fake.stop()
    from evals.models import CaseResult

    done = CaseResult.objects.filter(variant__experiment=experiment, status="done").count()
    critical = slept["slept"] / in_flight
    print(f"{calls} calls, {in_flight} in flight ({args.processes} processes x {args.threads} threads), "
          f"latency {latency[0] * 1000:.0f}-{latency[1] * 1000:.0f} ms (fake in its own process, "
          f"{slept['requests']} requests, mean {slept['slept'] / max(1, slept['requests']) * 1000:.0f} ms)")
    print(f"{done} of {calls} cases done")
    ratio = f"ratio {wall / critical:.2f} (target <= 1.3)" if critical else "no latency"
    print(f"wall {wall:.1f} s, critical path {critical:.1f} s, {ratio}")
    print(f"CPU per case: {cpu / calls * 1000:.1f} ms in the worker processes, {slept['cpu'] / calls * 1000:.1f} ms in "
          f"the fake's; the fake saw at most {slept['peak_in_flight']} requests at once")
    print(f"load average (1 min) {load_before[0]:.1f} before the run, {load_after[0]:.1f} after, {os.cpu_count()} CPUs")
    from evals import summary

    for row in summary.summarize(experiment):
        print(f"  {row.label}: score {row.score:.3f} ({row.ci_low:.3f}-{row.ci_high:.3f}), latency p50 "
              f"{row.latency_p50_ms:.0f} ms, {row.failed} failed")
    times, queries = page_render(experiment)
    print(f"experiment page: {min(times):.0f} ms best of 3 ({', '.join(f'{x:.0f}' for x in times)}), "
          f"{queries} SQL queries (target < 300 ms)")
    return 0 if done == calls else 1


if __name__ == "__main__":
    raise SystemExit(main())
