"""Benchmark: segment N products against the fake provider answering after a fixed delay.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/SCRATCH_DB .venv/bin/python -m segmentation.bench \\
        --products 2000 --delay 0.2 --concurrency 8 [--workers 12] [--celery]

``--concurrency`` is the number of LLM requests in flight at once: the bench model's
``max_concurrent``, which the llm service enforces across processes (llm/calls/concurrency.py), and
which the fake provider checks from its side (its peak of requests in flight is printed).
``--workers`` (default concurrency + concurrency / 2) is how many batches run side by side: the
workers beyond the limit prepare their next call while the others wait for their answers, and
take a place in flight the moment one frees up.

Runs the pipeline in this process (``run_inline``: ``--workers`` threads stand in for Celery
workers, as ``manage.py segment`` runs it) or, with ``--celery``, on a real prefork Celery worker
with ``--workers`` processes on a queue of its own (as production runs it; one small warm-up run
first, since a long-lived worker's processes already hold their connections). It counts the LLM
calls per stage and compares the wall time with the ideal critical path: for each stage (and
each consolidation level) ceil(calls / concurrency) x delay; "overhead per call" is
(wall - ideal) / calls.

The fake provider runs in a separate process (a real provider is remote: its CPU is not
ours). With threads, "own overhead" is the CPU this process spends outside ``llm.complete``
(segmentation: claims, prompts, schemas, parsing the answer, writing results, advancing
stages), measured per thread with ``time.thread_time``; the CPU inside ``llm.complete`` is
reported next to it, split into the llm service and the provider SDK call (request building,
HTTP, response reading). With ``--celery`` the figure is the worker's whole CPU per call
(its processes' user + system time from /proc: Celery, segmentation, llm service and SDK). Peak RSS is sampled during the run; ``--trace-memory`` adds tracemalloc
(which slows Python down, so the timings of such a run are not comparable). Use a scratch
database: the script creates its own provider, user and products and deletes them afterwards.
``--json`` prints one JSON line with every figure (``bench/segmentation_scale.py`` reads it).
"""

import argparse
import base64
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid


def serve_fake(delay: float) -> None:
    """The fake provider in its own process: prints its port, serves until stdin closes."""
    from llm.testing.fake_provider import FakeProviderServer, Reply

    from segmentation.tests.fakes import answer, request_parts

    server = FakeProviderServer().start()
    server._record = lambda req: None  # a long bench must not keep every request in memory
    server.set_default(lambda req: Reply(json=answer(*request_parts(req)), delay=delay))
    print(server.port, flush=True)
    sys.stdin.read()
    server.stop()


class RSSSampler(threading.Thread):
    """Peak resident set size of this process while the run goes (from /proc, every 50 ms)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = self.start_rss = self._rss()
        self.stopped = threading.Event()

    @staticmethod
    def _rss() -> int:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux: fall back to the high-water mark
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def run(self):
        self.cpu = 0.0
        while not self.stopped.wait(0.05):
            self.peak = max(self.peak, self._rss())
            self.cpu = time.thread_time()  # this thread's own CPU, left out of the pipeline's figures

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        return max(self.peak, self._rss())


def _tree_cpu_seconds(pid: int) -> float:
    """user + system CPU of a process and its children (a prefork worker's pool), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1] is the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _celery_run(pipeline, *, run=None, user=None, ids=None, provider=None):
    """Enqueue a run's first batches as the API does and wait until it stops running."""
    from segmentation.tasks import enqueue

    if run is None:
        run = pipeline.start_run(owner=user, product_ids=ids, category="Dimmer Switches", provider=provider)
    enqueue(pipeline.pending_batches(run.pk))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        time.sleep(0.01)
        if type(run).objects.filter(pk=run.pk).values_list("status", flat=True).first() != "running":
            break
    run.refresh_from_db()
    return run


def start_celery_worker(concurrency: int, prefix: str) -> subprocess.Popen:
    """A prefork worker with ``concurrency`` processes on this bench's own bulk queue; returns once it answers a ping."""
    from config.celery import app

    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "prefork", "-c", str(concurrency),
         "-Q", f"{prefix}bulk", "-n", f"{prefix}bench@%h", "--without-gossip", "--without-mingle", "-l", "warning"],
        env=os.environ.copy(), cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the Celery worker exited with {proc.returncode}")
        if app.control.ping(destination=[f"{prefix}bench@{os.uname().nodename}"], timeout=0.5):
            time.sleep(1.0)  # every pool process has forked and warmed up (worker_process_init)
            return proc
    proc.kill()
    raise SystemExit("the Celery worker did not answer within 60 s")


def stop_celery_worker(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the fake provider waits before answering")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="LLM requests in flight at once (the bench model's max_concurrent)")
    parser.add_argument("--workers", type=int, default=None,
                        help="batches side by side: threads, or Celery processes (default concurrency * 1.5)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile (cumulative) of the run, concurrency 1 advised")
    parser.add_argument("--trace-memory", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--keep", action="store_true", help="keep the run, products and files for inspection")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--celery", action="store_true",
                        help="run the batches on a real Celery worker (prefork, --concurrency processes) instead of threads")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake:
        serve_fake(args.delay)
        return 0
    if args.workers is None:
        args.workers = args.concurrency + max(1, args.concurrency // 2)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "false")  # DEBUG keeps every SQL query in memory
    # DEBUG off needs real secrets (config/keys.py): throwaway ones for a scratch database.
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + uuid.uuid4().hex + uuid.uuid4().hex)
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    os.environ.setdefault("STORAGE_ROOT", tempfile.mkdtemp(prefix="segbench-"))
    os.environ["SEGMENTATION_CONCURRENCY"] = str(args.workers)
    os.environ["SEGBENCH_API_KEY"] = "sk-bench-0000"
    tag = uuid.uuid4().hex[:8]
    if args.celery:  # this process and the worker route to queues of their own
        os.environ["CELERY_QUEUE_PREFIX"] = f"segbench{tag}-"
    import django

    django.setup()
    from collections import Counter

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from llm.models import LLMCacheEntry, LLMModel, LLMProvider, LLMQuery
    from llm.testing.fake_provider import stats_remote
    from products.models import Category, Product
    from segmentation import conf, pipeline

    call_command("migrate", verbosity=0)
    server = subprocess.Popen([sys.executable, "-m", "segmentation.bench", "--serve-fake", "--delay", str(args.delay)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    port = int(server.stdout.readline())
    provider = LLMProvider.objects.create(name=f"segbench-{tag}", kind=LLMProvider.Kind.OPENAI,
                                          base_url=f"http://127.0.0.1:{port}/v1",
                                          api_key_env="SEGBENCH_API_KEY", default_model="gpt-4o-mini")
    LLMModel.objects.create(provider=provider, name="gpt-4o-mini", price_source=LLMModel.PriceSource.UNKNOWN,
                            max_concurrent=args.concurrency)
    user, _ = get_user_model().objects.get_or_create(username="segbench")
    category = Category.objects.create(name=f"Bench {tag}")
    kinds = ["Smart WiFi dimmer", "Rotary dimmer", "Slide dimmer", "Plug-in dimmer"]
    for start in range(0, args.products, 5000):
        Product.objects.bulk_create([
            Product(title=f"{kinds[i % 4]} model {i}", brand=f"Brand{i % 7}", description=f"A {kinds[i % 4].lower()} for tests.",
                    category=category) for i in range(start, min(args.products, start + 5000))
        ])
    ids = list(Product.objects.filter(category=category).order_by("pk").values_list("pk", flat=True))

    # CPU inside llm.complete, per thread (the stages call it as pipeline.asking.complete; the
    # in-process runner calls pipeline.control.process_batch).
    from segmentation.pipeline import asking, control

    inside = {"cpu": 0.0, "calls": 0}
    lock = threading.Lock()
    real_complete = asking.complete

    spans = []  # (stage, start, end, wall inside llm.complete) per batch, for the latency breakdown
    local = threading.local()

    def timed_complete(**kwargs):
        t0, w0 = time.thread_time(), time.monotonic()
        try:
            return real_complete(**kwargs)
        finally:
            with lock:
                inside["cpu"] += time.thread_time() - t0
                inside["calls"] += 1
            local.llm_wall = getattr(local, "llm_wall", 0.0) + time.monotonic() - w0

    real_process = control.process_batch

    def timed_process(batch_id, token):
        local.llm_wall, start = 0.0, time.monotonic()
        try:
            return real_process(batch_id, token)
        finally:
            with lock:
                spans.append((start, time.monotonic(), local.llm_wall))

    # CPU inside the provider SDK call (request building, HTTP, response parsing), per thread.
    from llm.providers.openai_provider import OpenAIProvider

    real_execute = OpenAIProvider.execute
    inside["sdk_cpu"] = 0.0

    def timed_execute(self, request):
        t0 = time.thread_time()
        try:
            return real_execute(self, request)
        finally:
            with lock:
                inside["sdk_cpu"] += time.thread_time() - t0

    OpenAIProvider.execute = timed_execute
    asking.complete = timed_complete
    control.process_batch = timed_process
    query_count = Counter()

    def count(execute, sql, params, many, context):
        query_count[sql.split(" ")[0] + " " + (sql.split('"')[1] if '"' in sql else "")] += 1
        return execute(sql, params, many, context)

    run = worker = warm_run = None
    try:
        import gc

        gc.collect()
        if args.trace_memory:
            import tracemalloc

            tracemalloc.start()
        if args.celery:
            worker = start_celery_worker(args.workers, os.environ["CELERY_QUEUE_PREFIX"])
            # A long-lived worker's processes hold their connections: one small run first (its
            # batches start 5 products in, so none of them is a cache hit for the measured run).
            warm_run = _celery_run(pipeline, user=user, ids=ids[5:5 + 16 * conf.products_per_prompt()],
                                   provider=provider.name)
            # The fake's taxonomies are alike from batch to batch, so the warm-up's consolidation prompt
            # is the measured run's too: forget its answers, or the measured run gets them for free.
            LLMCacheEntry.objects.filter(provider_name=provider.name).delete()
            print(f"Celery worker ready: prefork, {args.workers} processes; warm-up run {warm_run.status}")
        else:
            # A Celery worker warms up when it starts (llm/calls/warmup.py): measure the run, not the process start.
            from llm.calls import warm_up

            print(f"warmed up (as a worker does at start): {', '.join(warm_up()) or 'nothing'}")
        sampler = RSSSampler()
        sampler.start()
        started = time.monotonic()
        cpu_started = time.process_time()
        run = pipeline.start_run(owner=user, product_ids=ids, category="Dimmer Switches", provider=provider.name)
        setup_s = time.monotonic() - started
        setup_cpu = time.process_time() - cpu_started
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        worker_cpu = None
        fake_cpu0 = _tree_cpu_seconds(server.pid)
        if args.celery:
            cpu0 = _tree_cpu_seconds(worker.pid)
            run = _celery_run(pipeline, run=run)
            worker_cpu = _tree_cpu_seconds(worker.pid) - cpu0
        else:
            with connection.execute_wrapper(count):
                run = pipeline.run_inline(run.pk, workers=args.workers)
        if args.profile:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        wall = time.monotonic() - started
        cpu = time.process_time() - cpu_started
        fake_cpu = _tree_cpu_seconds(server.pid) - fake_cpu0
        peak_rss = sampler.stop()
        traced_peak = None
        if args.trace_memory:
            _, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()

        # Calls that reached the provider; a cache hit (a request the warm-up run already made)
        # would cost no wait and make the figures meaningless, so it is counted apart and fails the bench.
        queries = LLMQuery.objects.filter(run_id=run.pk)
        calls = {t: queries.filter(interaction_type=t).exclude(status=LLMQuery.Status.CACHE_HIT).count()
                 for t in ("segmentation", "consolidate_taxonomy", "refine_assignments")}
        cache_hits = queries.filter(status=LLMQuery.Status.CACHE_HIT).count()
        per = conf.taxonomies_per_consolidation()
        levels, n = [], calls["segmentation"]
        while True:
            n = math.ceil(n / per) if n else 1
            levels.append(n)
            if n <= 1:
                break
        expected = {"segmentation": run.processing_params["extract_batches"], "consolidate_taxonomy": sum(levels),
                    "refine_assignments": math.ceil(len(ids) / conf.products_per_refinement())}
        c = args.concurrency
        ideal = (math.ceil(calls["segmentation"] / c) + sum(math.ceil(x / c) for x in levels)
                 + math.ceil(calls["refine_assignments"] / c)) * args.delay
        total_calls = max(1, sum(calls.values()))
        spans.sort()
        batch_wall = sum(end - start for start, end, _ in spans) / max(1, len(spans))
        llm_wall = sum(w for _, _, w in spans) / max(1, len(spans))
        busy = sum(end - start for start, end, _ in spans)
        run_wall = spans[-1][1] - spans[0][0] if spans else 0.0
        own_cpu = cpu - inside["cpu"] - sampler.cpu
        if args.celery:  # the batches ran in the worker: take their timings from the rows
            from django.db.models import Avg

            from segmentation.models import SegmentationBatch

            rows = list(SegmentationBatch.objects.filter(run_id=run.pk).exclude(finished_at=None).exclude(started_at=None)
                        .values_list("started_at", "finished_at"))
            batch_wall = sum((b - a).total_seconds() for a, b in rows) / max(1, len(rows))
            llm_wall = (LLMQuery.objects.filter(run_id=run.pk).aggregate(v=Avg("latency_ms"))["v"] or 0) / 1000
            busy = sum((b - a).total_seconds() for a, b in rows)
            run_wall = (max(b for _, b in rows) - min(a for a, _ in rows)).total_seconds() if rows else 0.0
        fake_stats = stats_remote(f"http://127.0.0.1:{port}")
        figures = {
            "products": len(ids), "status": run.status, "concurrency": c, "workers": args.workers,
            "delay_s": args.delay, "peak_in_flight": fake_stats["peak_in_flight"],
            "calls": calls, "expected_calls": expected, "calls_ok": calls == expected and not cache_hits,
            "cache_hits": cache_hits,
            "wall_s": round(wall, 3), "setup_s": round(setup_s, 3), "ideal_s": round(ideal, 3),
            "ratio": round(wall / ideal, 3) if ideal else None,
            "overhead_per_call_ms": round((wall - ideal) / total_calls * 1000, 2),
            "mode": "celery" if args.celery else "threads",
            "own_cpu_per_call_ms": None if args.celery else round(own_cpu / total_calls * 1000, 2),
            "own_cpu_per_call_ms_without_setup": None if args.celery else round((own_cpu - setup_cpu) / total_calls * 1000, 2),
            "llm_complete_cpu_per_call_ms": None if args.celery else round(inside["cpu"] / total_calls * 1000, 2),
            "sdk_cpu_per_call_ms": None if args.celery else round(inside["sdk_cpu"] / total_calls * 1000, 2),
            "llm_service_cpu_per_call_ms": None if args.celery else round((inside["cpu"] - inside["sdk_cpu"]) / total_calls * 1000, 2),
            "fake_cpu_per_call_ms": round(fake_cpu / total_calls * 1000, 2),
            "worker_cpu_per_call_ms": round(worker_cpu / total_calls * 1000, 2) if worker_cpu is not None else None,
            "cpu_s": round(cpu, 3), "setup_cpu_s": round(setup_cpu, 3),
            "sql_queries": sum(query_count.values()),
            "batch_latency_ms": round(batch_wall * 1000, 1), "llm_complete_latency_ms": round(llm_wall * 1000, 1),
            "mean_batches_in_flight": round(busy / run_wall, 2) if run_wall else None,
            "peak_rss_mb": round(peak_rss / 1e6, 1), "rss_growth_mb": round((peak_rss - sampler.start_rss) / 1e6, 1),
            "traced_peak_mb": round(traced_peak / 1e6, 1) if traced_peak is not None else None,
        }
        if args.json:
            print(json.dumps(figures))
        else:
            print(f"run {run.pk}: {run.status}, {len(ids)} products, {c} requests in flight at most (max_concurrent), "
                  f"{args.workers} {'Celery processes' if args.celery else 'threads'}, fake delay {args.delay * 1000:.0f} ms")
            print(f"peak requests in flight seen by the fake provider: {figures['peak_in_flight']} "
                  f"({'within' if figures['peak_in_flight'] <= c else 'OVER'} the limit of {c})")
            print(f"LLM calls: {calls} (expected with no faults: {expected}) -> {'OK' if calls == expected else 'MISMATCH'}; "
                  f"answered from the cache: {cache_hits}{'' if not cache_hits else ' (NOT a valid measurement)'}")
            print(f"wall {wall:.2f} s (of which setup {setup_s:.2f} s), ideal critical path {ideal:.2f} s"
                  + (f", ratio {wall / ideal:.2f}" if ideal else "")
                  + f"; wall over ideal per call {figures['overhead_per_call_ms']} ms")
            if args.celery:
                print(f"worker CPU per call (all of it: Celery, segmentation, llm service, SDK): "
                      f"{figures['worker_cpu_per_call_ms']} ms")
            else:
                print(f"own CPU (outside llm.complete) per call: {figures['own_cpu_per_call_ms']} ms "
                      f"({figures['own_cpu_per_call_ms_without_setup']} ms without start_run); "
                      f"inside llm.complete: {figures['llm_complete_cpu_per_call_ms']} ms per call "
                      f"(llm service {figures['llm_service_cpu_per_call_ms']} ms, provider SDK and HTTP "
                      f"{figures['sdk_cpu_per_call_ms']} ms)")
            print(f"per batch: {figures['batch_latency_ms']} ms wall, of which {figures['llm_complete_latency_ms']} ms in "
                  f"llm.complete (fake delay {args.delay * 1000:.0f} ms); batches in flight on average "
                  f"{figures['mean_batches_in_flight']} of {args.workers}")
            if not args.celery:
                print(f"SQL queries (pipeline + llm, not start_run): {figures['sql_queries']} "
                      f"({figures['sql_queries'] / total_calls:.1f} per call):",
                      ", ".join(f"{k} {v}" for k, v in query_count.most_common(10)))
            print(f"the fake provider's own CPU per call (its process, not ours): {figures['fake_cpu_per_call_ms']} ms")
            print(f"peak RSS {figures['peak_rss_mb']} MB (grew {figures['rss_growth_mb']} MB during the run)"
                  + (f", peak traced Python memory {figures['traced_peak_mb']} MB" if traced_peak is not None else ""))
        return 0 if run.status == "completed" and figures["calls_ok"] and figures["peak_in_flight"] <= c else 1
    finally:
        asking.complete = real_complete
        control.process_batch = real_process
        OpenAIProvider.execute = real_execute
        if worker is not None:
            stop_celery_worker(worker)
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep:
            for done in (run, warm_run):
                if done is not None:
                    LLMQuery.objects.filter(run_id=done.pk).delete()
                    done.delete()
            LLMCacheEntry.objects.filter(provider_name=provider.name).delete()
            Product.objects.filter(category=category).delete()
            category.delete()
            provider.delete()


if __name__ == "__main__":
    sys.exit(main())
