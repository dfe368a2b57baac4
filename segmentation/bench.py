"""Benchmark: segment N products against the fake provider answering after a fixed delay.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/SCRATCH_DB .venv/bin/python -m segmentation.bench \\
        --products 2000 --delay 0.2 --concurrency 8

Runs the pipeline in this process (``run_inline``: SEGMENTATION_CONCURRENCY threads stand in
for Celery workers), counts the LLM calls per stage, and compares the wall time with the ideal
critical path: for each stage (and each consolidation level) ceil(calls / concurrency) x delay.
Peak Python memory is traced with tracemalloc. Use a scratch database: the script creates its
own provider, user and products and deletes them (and the run) afterwards.
"""

import argparse
import math
import os
import sys
import tempfile
import time
import tracemalloc
import uuid


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the fake provider waits before answering")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the run (this thread only)")
    parser.add_argument("--keep", action="store_true", help="keep the run, products and files for inspection")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "false")  # DEBUG keeps every SQL query in memory
    os.environ.setdefault("STORAGE_ROOT", tempfile.mkdtemp(prefix="segbench-"))
    os.environ["SEGMENTATION_CONCURRENCY"] = str(args.concurrency)
    os.environ["SEGBENCH_API_KEY"] = "sk-bench-0000"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from llm.models import LLMProvider, LLMQuery
    from llm.testing.fake_provider import FakeProviderServer, Reply
    from products.models import Category, Product
    from segmentation import conf, pipeline
    from segmentation.tests.fakes import answer, request_parts

    call_command("migrate", verbosity=0)
    tag = uuid.uuid4().hex[:8]
    server = FakeProviderServer().start()
    server._record = lambda req: None  # it runs in this process: do not count its request log as ours
    server.set_default(lambda req: Reply(json=answer(*request_parts(req)), delay=args.delay))
    provider = LLMProvider.objects.create(name=f"segbench-{tag}", kind=LLMProvider.Kind.OPENAI, base_url=server.openai_base_url,
                                          api_key_env="SEGBENCH_API_KEY", default_model="gpt-4o-mini")
    user, _ = get_user_model().objects.get_or_create(username="segbench")
    category = Category.objects.create(name=f"Bench {tag}")
    kinds = ["Smart WiFi dimmer", "Rotary dimmer", "Slide dimmer", "Plug-in dimmer"]
    for start in range(0, args.products, 5000):
        Product.objects.bulk_create([
            Product(title=f"{kinds[i % 4]} model {i}", brand=f"Brand{i % 7}", description=f"A {kinds[i % 4].lower()} for tests.",
                    category=category) for i in range(start, min(args.products, start + 5000))
        ])
    ids = list(Product.objects.filter(category=category).order_by("pk").values_list("pk", flat=True))
    run = None
    try:
        tracemalloc.start()
        started = time.monotonic()
        cpu_started = time.process_time()
        run = pipeline.start_run(owner=user, product_ids=ids, category="Dimmer Switches", provider=provider.name)
        setup_s = time.monotonic() - started
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        from collections import Counter

        from django.db import connection

        query_count = Counter()

        def count(execute, sql, params, many, context):
            query_count[sql.split(" ")[0] + " " + (sql.split('"')[1] if '"' in sql else "")] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            run = pipeline.run_inline(run.pk, workers=args.concurrency)
        if args.profile:
            profiler.disable()
            stats = pstats.Stats(profiler)
            by_package: dict[str, float] = {}
            for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():
                parts = filename.split("site-packages/")
                key = parts[1].split("/")[0] if len(parts) > 1 else ("/".join(filename.split("/")[-2:]) if "/work/" in filename else filename.split("/")[-1])
                by_package[key] = by_package.get(key, 0.0) + tottime
            for key, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:20]:
                print(f"{seconds:8.3f} s  {key}")
        wall = time.monotonic() - started
        cpu = time.process_time() - cpu_started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        calls = {t: LLMQuery.objects.filter(run_id=run.pk, interaction_type=t).count()
                 for t in ("segmentation", "consolidate_taxonomy", "refine_assignments")}
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
        total_calls = sum(calls.values())
        slots = ideal / args.delay if args.delay else total_calls / c
        print(f"run {run.pk}: {run.status}, {len(ids)} products, concurrency {c}, fake delay {args.delay * 1000:.0f} ms")
        print(f"LLM calls: {calls} (expected with no faults: {expected}) -> {'OK' if calls == expected else 'MISMATCH'}")
        print(f"wall {wall:.2f} s (of which setup {setup_s:.2f} s), ideal critical path {ideal:.2f} s, "
              f"ratio {wall / ideal:.2f}" if ideal else f"wall {wall:.2f} s")
        print(f"own overhead per call on the critical path: {(wall - ideal) / max(slots, 1) * 1000:.1f} ms "
              f"(spread over all calls: {(wall - ideal) * c / max(total_calls, 1) * 1000:.1f} ms)")
        print(f"CPU time of this process (pipeline + llm + SDK + the in-process fake server): {cpu:.2f} s, "
              f"{cpu / max(total_calls, 1) * 1000:.1f} ms per call")
        if args.concurrency == 1:
            print(f"SQL queries: {sum(query_count.values())} ({sum(query_count.values()) / max(total_calls, 1):.1f} per call):",
                  ", ".join(f"{k} {v}" for k, v in query_count.most_common(12)))
        print(f"peak traced Python memory: {peak / 1e6:.1f} MB")
        return 0 if run.status == "completed" and calls == expected else 1
    finally:
        server.stop()
        if not args.keep:
            if run is not None:
                LLMQuery.objects.filter(run_id=run.pk).delete()
                run.delete()
            Product.objects.filter(category=category).delete()
            category.delete()
            provider.delete()


if __name__ == "__main__":
    sys.exit(main())
