"""Bench: dollars per 1,000 items, interactive delivery against provider batches.

Three workloads with a realistic token profile (the demo catalog's titles and descriptions):
segmentation (one refine call per product against a 40-segment taxonomy), product generation
(identify, map attributes, generate: three calls per product) and evaluation (one judged call
per case). Each runs once per delivery against the fake provider through the real code path —
``complete()`` one by one, or ``llm.batch.submit`` + the beat's ``poll_due`` through the OpenAI
Batch API — and is priced by what its LLMQuery rows cost. A fourth workload, "segmentation run",
is the real segmentation pipeline (extract, consolidate, refine over N products): ``run_inline``
interactively, and ``delivery=batch`` (segmentation/pipeline/batched.py: a pass per stage round,
provider batches polled by ``poll_due``), answered by the segmentation tests' fake model. The tokens those rows used are then
priced for two models per provider from the bundled price list (batch = the price list's batch
multiplier).

    DATABASE_URL=... python bench/cost_per_1k.py --products 2000 [--json]

With --json the last line is {"usd_per_1k": {"interactive": …, "batch": …}, "by_workload": …}
for segmentation on the first model. Prompt caching (the other half of issue 21) is not measured here.
"""

import argparse
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-haiku-4-5"),
          ("anthropic", "claude-sonnet-4-6"), ("gemini", "gemini-2.5-flash"), ("gemini", "gemini-2.5-flash-lite")]
SEGMENTS = [f"Segment {i}: {kind}" for i, kind in enumerate(
    ["smart dimmers", "wall switches", "LED bulbs", "halogen bulbs", "chef's knives", "paring knives", "cutting boards",
     "cast iron pans", "non-stick pans", "saucepans", "kettles", "coffee grinders", "espresso machines", "toasters",
     "blenders", "food processors", "stand mixers", "hand mixers", "scales", "thermometers", "storage jars",
     "spice racks", "knife blocks", "sharpeners", "oven gloves", "aprons", "tea towels", "baking trays", "muffin tins",
     "rolling pins", "measuring cups", "whisks", "spatulas", "ladles", "tongs", "colanders", "graters", "peelers",
     "mandolines", "garlic presses"])]


class BenchHandler:
    def __init__(self):
        self.answers = 0

    def on_answer(self, owner, key, completion):
        self.answers += 1

    def on_error(self, owner, key, error):
        raise SystemExit(f"batch request {key} failed: {error}")

    def on_finished(self, owner):
        pass


def workloads(n: int, products: list[dict]) -> dict[str, list[dict]]:
    taxonomy = "\n".join(SEGMENTS)
    out = {"segmentation": [], "product generation": [], "evaluation": []}
    for i in range(n):
        p = products[i % len(products)]
        text = f"{p['title']}\n\n{p['description']}\n(item {i})"
        out["segmentation"].append(dict(
            key=f"s{i}", purpose="bench.segmentation.refine", schema={"type": "object", "title": "Segment",
                                                                      "properties": {"segment": {"type": "string"}}},
            system=f"Assign the product to exactly one segment of this taxonomy.\n{taxonomy}", prompt=text, max_tokens=200))
        for step in ("identify", "map", "generate"):
            out["product generation"].append(dict(
                key=f"p{i}-{step}", purpose=f"bench.products.{step}", prompt=f"Step {step} for this product:\n{text}",
                system="You write catalog listings: category, attributes, then the title, description and bullets.",
                max_tokens=600 if step == "generate" else 200))
        out["evaluation"].append(dict(key=f"e{i}", purpose="bench.evals.judge", prompt=f"Grade this listing 0-1:\n{text}",
                                      system="You are a strict grader of product listings.", max_tokens=100))
    return out


def measure(rows, wall: float) -> dict:
    """The paid calls' tokens and cost (a cache_hit row is the pipeline re-reading a delivered answer)."""
    from llm.providers import Usage

    rows = rows.exclude(status="cache_hit")
    usage = Usage()
    for r in rows.only("input_tokens", "cached_input_tokens", "output_tokens"):
        usage.input_tokens += r.input_tokens
        usage.cached_input_tokens += r.cached_input_tokens
        usage.output_tokens += r.output_tokens
    measured = sum((r.cost_usd or Decimal(0)) for r in rows.only("cost_usd"))
    return {"calls": rows.count(), "wall_s": wall, "usage": usage, "measured_usd": measured}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=2000, help="items per workload (default 2,000)")
    parser.add_argument("--db-url", help="the database to use (default: DATABASE_URL)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--tiny", action="store_true", help="20 items: checks that the script runs")
    args = parser.parse_args()
    if args.tiny:
        args.products = 20
    if args.db_url:
        os.environ["DATABASE_URL"] = args.db_url
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    os.environ.setdefault("LLM_CACHE_ENABLED", "false")  # every item is paid for, in both modes

    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_test_environment

    from llm import batch as llm_batch
    from llm import definitions
    from llm.bootstrap import ensure_defaults
    from llm.models import LLMModel, LLMProvider, LLMQuery
    from llm.records.pricing import charge_for
    from llm.providers import Usage
    from llm.calls.service import complete
    from llm.testing.fake_provider import FakeProviderServer, Reply
    from products.demo import seed_catalog
    from products.models import Product

    setup_test_environment()
    settings.LLM_CACHE_ENABLED = False
    ensure_defaults()
    server = FakeProviderServer().start()
    server.set_default(lambda req: Reply(json={"segment": "Segment 0: smart dimmers"})
                       if "Segment" in json.dumps(req.body) else Reply(text="A clear, complete answer for the step. " * 6))
    LLMProvider.objects.filter(name="openai").update(base_url=server.openai_base_url)
    definitions.forget()
    handler = BenchHandler()
    llm_batch.register_handler("bench.cost", handler)
    seed_catalog()
    products = list(Product.objects.order_by("pk").values("title", "description")[:500])
    loads = workloads(args.products, products)
    provider, model = MODELS[0]
    results: dict = {}
    for name, requests in loads.items():
        per_mode = {}
        for delivery in ("interactive", "batch"):
            run_id = f"RUN_bench_{name.replace(' ', '_')}_{delivery}_{int(time.time())}"
            started = time.monotonic()
            if delivery == "interactive":
                for r in requests:
                    complete(provider=provider, model=model, run=run_id, cache=False,
                             **{k: v for k, v in r.items() if k != "key"})
            else:
                owner = f"bench.cost:{run_id}"
                llm_batch.submit(owner=owner, handler="bench.cost", provider=provider, model=model,
                                 requests=[llm_batch.Request(run=run_id, **r) for r in requests])
                while LLMBatch_active(owner):
                    llm_batch.poll_due()
            per_mode[delivery] = measure(LLMQuery.objects.filter(run_id=run_id), time.monotonic() - started)
        results[name] = per_mode
    per_mode = {}
    for delivery in ("interactive", "batch"):
        started = time.monotonic()
        run_id = segmentation_run(args.products, delivery, provider, model, server)
        per_mode[delivery] = measure(LLMQuery.objects.filter(run_id=run_id), time.monotonic() - started)
    results["segmentation run"] = per_mode

    n = args.products
    print(f"{n} items per workload; tokens from the fake provider, prices from llm/data/prices.json")
    print(f"{'workload':<20} {'model':<28} {'interactive $/1k':>17} {'batch $/1k':>11} {'ratio':>6}")
    summary: dict = {}
    for name, per_mode in results.items():
        for i, (prov, mname) in enumerate(MODELS):
            row = LLMModel.objects.filter(provider__name=prov, name=mname).first()
            if row is None:
                continue
            cost = {d: charge_for(row, per_mode[d]["usage"], batch=d == "batch").cost or Decimal(0) for d in per_mode}
            per_1k = {d: float(cost[d]) / n * 1000 for d in cost}
            if i == 0:  # the model that actually ran: the priced rows must agree with the recomputation
                measured = {d: float(per_mode[d]["measured_usd"]) / n * 1000 for d in per_mode}
                # (per-row rounding to 1e-8 USD makes the sums differ in the last digits)
                assert all(abs(measured[d] - per_1k[d]) <= 1e-3 * per_1k[d] + 1e-6 for d in per_1k), (measured, per_1k)
                summary[name] = per_1k
            ratio = per_1k["batch"] / per_1k["interactive"] if per_1k["interactive"] else 0
            print(f"{name:<20} {prov + '/' + mname:<28} {per_1k['interactive']:>17.4f} {per_1k['batch']:>11.4f} {ratio:>6.2f}")
    print()
    for name, per_mode in results.items():
        for d, m in per_mode.items():
            print(f"{name:<20} {d:<12} calls {m['calls']:>6} ({m['calls'] / n:.2f} per item), wall {m['wall_s']:.1f} s")
    # 0.1% slack: a cost is rounded to 1e-8 USD, so half of a tiny total (--tiny's few calls) can
    # round up past exactly half.
    batch_ok = all(v["batch"] <= 0.5 * v["interactive"] * 1.001 + 1e-12 for v in summary.values())
    print(f"batch <= 0.5x interactive on every workload: {'yes' if batch_ok else 'NO'}")
    server.stop()
    if args.json:
        print(json.dumps({"usd_per_1k": summary["segmentation"], "by_workload": summary, "items": n}))
    return 0 if batch_ok else 1


def segmentation_run(n: int, delivery: str, provider: str, model: str, server) -> str:
    """One real segmentation run over ``n`` new products; returns its run id (its LLMQuery rows' run)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from config.celery import app
    from llm import batch as llm_batch
    from llm.models import LLMCacheEntry
    from llm.testing.fake_provider import Reply
    from segmentation import pipeline
    from segmentation.models import SegmentationRun
    from segmentation.tests.fakes import answer, make_products, request_parts

    def reply(req):
        name, schema, prompt = request_parts(req)
        return Reply(json=answer(name, schema, prompt))

    previous = server._default
    server.set_default(reply)
    settings.LLM_CACHE_ENABLED = True  # the pipeline's batch passes continue from the answer cache
    app.conf.task_always_eager = True  # each delivery's next pass runs here, not on a worker
    LLMCacheEntry.objects.all().delete()  # both deliveries pay for every call
    try:
        owner, _ = get_user_model().objects.get_or_create(username="bench")
        ids = make_products(n, category=f"Bench dimmers {delivery}")
        run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider=provider,
                                 model=model, delivery=delivery)
        if delivery == "interactive":
            pipeline.run_inline(run.pk, workers=1)
        else:
            for _ in range(200):
                if SegmentationRun.objects.get(pk=run.pk).status != SegmentationRun.Status.RUNNING:
                    break
                if not LLMBatch_active(run.batch_owner):
                    pipeline.batch_pass(run.pk)
                llm_batch.poll_due()
        run.refresh_from_db()
        if run.status != SegmentationRun.Status.COMPLETED:
            raise SystemExit(f"segmentation run {run.pk} ({delivery}) ended {run.status}: {run.error}")
        return run.pk
    finally:
        settings.LLM_CACHE_ENABLED = False
        app.conf.task_always_eager = False
        if previous is not None:
            server.set_default(previous)


def LLMBatch_active(owner: str) -> bool:
    from llm.batch.models import LLMBatch

    return LLMBatch.objects.for_owner(owner).active().exists()


if __name__ == "__main__":
    sys.exit(main())
