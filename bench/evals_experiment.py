"""Bench: an N-case experiment with 3 variants against the fake provider with latency.

Prints the wall time, the critical path (calls per thread x the fake's latency, the lower bound
for this concurrency) and their ratio, and how long the experiment page takes to render.

    DATABASE_URL=... python bench/evals_experiment.py --cases 2000 --latency 0.05 --concurrency 32

It creates its own dataset (synthetic cases from the demo catalog) in the database it is given.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--db-url", help="the database to use (default: DATABASE_URL)")
    parser.add_argument("--tiny", action="store_true", help="20 cases, 4 in flight: checks that the script runs")
    args = parser.parse_args()
    if args.tiny:
        args.cases, args.latency, args.concurrency = 20, 0.01, 4
    if args.db_url:
        os.environ["DATABASE_URL"] = args.db_url

    import django

    django.setup()
    from django.core.cache import cache
    from django.test import Client
    from django.test.utils import setup_test_environment

    from evals import registry, runner
    from evals.importing import replace_cases
    from evals.testing import CatalogModel
    from llm import definitions
    from llm.bootstrap import ensure_defaults
    from llm.models import LLMProvider
    from llm.testing.fake_provider import FakeProviderServer
    from products.demo import seed_catalog
    from products.evals import identify_cases

    setup_test_environment()
    seed_catalog()
    cache.clear()
    ensure_defaults()
    server = FakeProviderServer().start()
    server.set_default(CatalogModel("correct", delay=args.latency))
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    LLMProvider.objects.filter(name="openai").update(base_url=server.openai_base_url)
    definitions.forget()
    base = identify_cases()
    cases = [{**base[i % len(base)], "key": f"bench-{i}",
              "input": {"text": base[i % len(base)]["input"]["text"] + f"\n(bench case {i})"}} for i in range(args.cases)]
    dataset = replace_cases(name="bench.identify_category", suite="products.identify_category", cases=cases)
    suite = registry.get("products.identify_category")
    variants = [runner.parse_variant(v, suite) for v in ("3:openai:gpt-4o-mini", "4:openai:gpt-4o-mini", "4:openai:gpt-4o")]
    experiment = runner.create_experiment(suite=suite.name, dataset=dataset, variants=variants, use_cache=False,
                                          trigger="bench")
    calls = args.cases * len(variants)
    started = time.monotonic()
    runner.work(experiment.pk, concurrency=args.concurrency)
    wall = time.monotonic() - started
    critical = (calls / args.concurrency) * args.latency
    print(f"{calls} calls, {args.concurrency} in flight, latency {args.latency * 1000:.0f} ms")
    ratio = f"ratio {wall / critical:.2f}" if critical else "no latency"
    print(f"wall {wall:.1f} s, critical path {critical:.1f} s, {ratio}")
    # What each case costs beyond the model's latency, per thread (the bench's per-case overhead).
    print(f"overhead per case and thread: {(wall - critical) / calls * args.concurrency * 1000:.1f} ms")

    from django.contrib.auth import get_user_model

    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = Client()
    client.force_login(staff)
    times = []
    for _ in range(3):
        t = time.monotonic()
        response = client.get(experiment.get_absolute_url())
        times.append((time.monotonic() - t) * 1000)
        assert response.status_code == 200
    print(f"experiment page: {min(times):.0f} ms best of 3 ({', '.join(f'{x:.0f}' for x in times)})")
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
