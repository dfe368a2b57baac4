"""Bench: dollars per 1,000 products for a segmentation run, interactive or in provider batches,
with and without provider prompt caching (issue 21, "Measure it").

The workload is the real segmentation pipeline (extract, hierarchical consolidation, refine over
N products) against the fake provider, which reports cached tokens the way each provider does
when a prefix repeats within its cache window (llm/testing/prompt_cache.py: Anthropic's explicit
``cache_control`` breakpoints, OpenAI's and Gemini's automatic prefix caching from 1,024
tokens). The token profile is a catalog's: each product is one of the demo catalog's products
(products/demo.py: its title with a SKU, brand and description, as ``prompting.product_line``
shows them), and the fake model sorts them into a taxonomy of 40 segments (``TAXONOMY``: three or
four per demo subcategory, each with a one-sentence definition), which the refine prompts carry
in their stable prefix. ``SEGMENTATION_MAX_SEGMENTS`` is set to 40, so the prompts ask for what the
fake answers.

Four modes, each a fresh run over the same products (the answer cache and the fake's prompt
cache emptied before each):

* ``interactive``: ``run_inline`` (one call at a time), ``LLM_PROMPT_CACHE=off`` (no breakpoint
  on any request) and the fake's prompt cache off (no cached tokens reported);
* ``interactive_cached``: the default path, breakpoints on, the fake caching;
* ``batch`` / ``batch_cached``: the same with ``delivery=batch`` (segmentation/pipeline/batched.py:
  a pass per stage round, provider batches polled by the beat's ``poll_due``).

The fake's cached counts depend on the wire, so the four modes run once per provider kind
(``--providers``, default openai,anthropic,gemini), each with that kind's first model in
``MODELS``; the LLMQuery rows' actual tokens (input, cached, cache-write, output) are then priced
per row with the bundled price list for both models of the kind (batch rows at the price list's
batch multiplier). The model that ran must agree with its rows' own ``cost_usd``.

    DATABASE_URL=... python bench/cost_per_1k.py [--products 2000] [--providers openai,anthropic] [--json]

Printed: dollars per 1,000 products per model and mode, the refine stage's input cost with and
without caching (``refine_input_saving`` = 1 - cached / uncached), calls (per stage, per product)
and wall time per run. With --json the last line is one JSON object: ``usd_per_1k`` (mode ->
dollars for the first model, ``model``: MODELS[0], openai/gpt-4o-mini), ``refine_input_saving``
(the first model's), ``calls_per_product`` and ``by_model`` (every priced model's figures).
Exit status 1 when a batch mode costs more than 0.5x its interactive mode on some model; the 40%
caching target is reported, not enforced (OpenAI's cached price is 50% or 25% of its input price,
so its saving is at most that share of the refine prompts' stable part).

Latest figures (2026-12-07 01:06, ``vm``, 2 CPUs, load average 11.6 -> 8.3, shared), 2,000
products, dollars per 1,000 products:

    model                  interactive  interactive_cached   batch   batch_cached  refine input saving
    openai/gpt-4o-mini        0.0732         0.0711          0.0366     0.0355           11.8%
    openai/gpt-4.1-mini       0.1951         0.1866          0.0976     0.0933           17.7%
    claude-haiku-4-5          0.5576         0.5314          0.2788     0.2657           22.0%
    claude-sonnet-4-6         1.6729         1.5941          0.8364     0.7970           22.0%
    gemini-2.5-flash          0.2371         0.2295          0.1186     0.1148           21.3%
    gemini-2.5-flash-lite     0.0488         0.0462          0.0244     0.0231           21.3%

Batch is 0.50x interactive on every model. The 40% caching target is missed on every model: a
refine prompt is ~4,780 input tokens, of which the stable prefix (instructions and the 40
segments) is ~24% and the 40 product lines the rest, so even a 90% cached discount saves ~22%.
103 calls per run (0.0515 per product); at 20,000 products 1,008 interactive and 1,003 batch
(0.0504 / 0.0502 per product: extract and refine 0.025 each, plus the consolidation calls the
answer cache does not answer). README.md's performance table has the rest.
"""

import argparse
import json
import logging
import os
import re
import sys
import time
import zlib
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-haiku-4-5"),
          ("anthropic", "claude-sonnet-4-6"), ("gemini", "gemini-2.5-flash"), ("gemini", "gemini-2.5-flash-lite")]
MODES = [  # (name, delivery, prompt caching)
    ("interactive", "interactive", False), ("interactive_cached", "interactive", True),
    ("batch", "batch", False), ("batch_cached", "batch", True),
]
STAGES = {"segmentation": "extract", "consolidate_taxonomy": "consolidate", "refine_assignments": "refine"}
CATEGORY = "Home, kitchen, outdoor and office products"

# The fake model's taxonomy: 40 segments over the demo catalog's 12 subcategories.
TAXONOMY = {
    "Dimmer Switches": [
        ("Smart Wi-Fi and Matter dimmers", "Wall dimmers controlled from an app, a voice assistant or a hub, usually needing a neutral wire."),
        ("Rocker and paddle dimmers", "Decorator-style wall dimmers with a paddle switch and a separate slide or button for the level."),
        ("Rotary and slide dimmers", "Basic wall dimmers set by turning a knob or moving a slider, for LED and incandescent loads."),
    ],
    "Smart Plugs": [
        ("Indoor Wi-Fi smart plugs", "Single plug-in outlets switched from a phone app or a schedule over the home Wi-Fi."),
        ("Energy-monitoring smart plugs", "Smart plugs that also measure and report the power drawn by the appliance plugged in."),
        ("Outdoor and multi-outlet smart plugs", "Weatherproof or multi-socket smart plugs for patios, holiday lights and power strips."),
    ],
    "LED Bulbs": [
        ("Standard A19 LED bulbs", "General-purpose LED replacements for 40 W to 100 W incandescent bulbs with a standard base."),
        ("Smart and colour LED bulbs", "LED bulbs whose brightness, white temperature or colour is set from an app or a hub."),
        ("Candle, globe and filament LED bulbs", "Decorative LED bulbs in candle, globe or vintage filament shapes for open fixtures."),
        ("Reflector and spot LED bulbs", "Directional LED bulbs (BR, PAR, GU10) for recessed cans, track lights and spotlights."),
    ],
    "Coffee Makers": [
        ("Drip coffee makers", "Machines that brew a carafe of filter coffee, with a warming plate or a thermal jug."),
        ("Single-serve pod machines", "Brewers that make one cup at a time from a capsule or a pod."),
        ("Espresso machines", "Pump or lever machines that make espresso, often with a steam wand for milk drinks."),
        ("Programmable and grind-and-brew machines", "Coffee makers with a timer, a built-in grinder or strength settings for unattended brewing."),
    ],
    "Chef's Knives": [
        ("Western chef's knives", "Eight- to ten-inch German-style chef's knives with a curved edge for rocking cuts."),
        ("Japanese gyuto and santoku knives", "Thin, hard-steel Japanese-style knives for precise push cuts and slicing."),
        ("Knife sets and blocks", "Several kitchen knives sold together, with a block, a roll or a magnetic stand."),
    ],
    "Cookware Sets": [
        ("Stainless steel cookware sets", "Sets of clad stainless pots and pans for searing, sauces and oven use."),
        ("Nonstick cookware sets", "Sets of pans coated to release food easily, for eggs and low-fat cooking."),
        ("Cast iron and enamelled cookware", "Heavy cast iron skillets, Dutch ovens and enamelled pots that hold heat."),
    ],
    "Tents": [
        ("Ultralight backpacking tents", "One- and two-person tents under about two kilograms, for multi-day hikes."),
        ("Family camping tents", "Large dome or cabin tents for four or more people, for car camping."),
        ("Four-season and mountaineering tents", "Sturdy tents built for wind and snow, with strong poles and low profiles."),
    ],
    "Sleeping Bags": [
        ("Down sleeping bags", "Sleeping bags insulated with goose or duck down, light and compressible for cold nights."),
        ("Synthetic sleeping bags", "Sleeping bags with synthetic fill that keeps insulating when damp."),
        ("Camping quilts and summer bags", "Open-backed quilts and light bags for warm nights and weight-conscious hikers."),
        ("Kids' and double sleeping bags", "Sleeping bags sized for children or for two people sharing one bag."),
    ],
    "Headlamps": [
        ("Rechargeable running headlamps", "Light, bounce-free USB-rechargeable headlamps for runners and hikers."),
        ("High-output work headlamps", "Bright headlamps with long burn times for work sites, caving and search."),
        ("Compact battery headlamps", "Small headlamps running on AAA cells for camping and the emergency kit."),
    ],
    "Office Chairs": [
        ("Ergonomic mesh task chairs", "Office chairs with a mesh back, lumbar support and adjustable arms for long days."),
        ("Executive and leather chairs", "Padded high-back office chairs upholstered in leather or faux leather."),
        ("Kneeling and saddle stools", "Alternative seats that tilt the pelvis forward for an upright posture."),
        ("Budget task chairs", "Simple adjustable office chairs for occasional or home-office use."),
    ],
    "Standing Desks": [
        ("Dual-motor standing desks", "Electric sit-stand desks with two lift motors for heavy loads and stable frames."),
        ("Single-motor standing desks", "Electric sit-stand desks with one motor, for lighter setups and smaller budgets."),
        ("L-shaped and corner standing desks", "Sit-stand desks with an L or corner top for multi-monitor workstations."),
    ],
    "Monitor Arms": [
        ("Single monitor arms", "Desk-clamped arms that hold one monitor on a gas spring or a mechanical joint."),
        ("Dual and multi-monitor arms", "Arms that hold two or more monitors side by side or stacked."),
        ("Laptop and heavy-duty arms", "Arms with a laptop tray, or rated for ultrawide and heavy monitors."),
    ],
}
DEFINITIONS = {name: definition for segments in TAXONOMY.values() for name, definition in segments}
assert len(DEFINITIONS) == 40, len(DEFINITIONS)
SEGMENT_OF: dict[str, str] = {}  # product title as the prompt shows it -> its segment (the fake model's knowledge)

_P_LINE = re.compile(r"^(P_\d+): (.+?)(?: \| brand: | \| details: |$)", re.M)
_T_LINE = re.compile(r"^(T_\d+): (.+?) - ", re.M)
_S_LINE = re.compile(r"^(S_\d+): (.+?) - ", re.M)


def segment_answer(req):
    """The fake model: each product in the segment its title belongs to, on any provider's wire."""
    from llm.testing.fake_provider import Reply
    from segmentation.tests.fakes import _enum, request_parts

    _, schema, prompt = request_parts(req)
    if _enum(schema, "merged_ids"):  # consolidate: merge the input segments by name
        names = dict(_T_LINE.findall(prompt))
        merged: dict[str, list[str]] = {}
        for tid in _enum(schema, "merged_ids"):
            merged.setdefault(names.get(tid, "Other products"), []).append(tid)
        return Reply(json={"segments": [{"name": n, "definition": DEFINITIONS.get(n, "Products that fit no other segment."),
                                         "merged_ids": ids} for n, ids in merged.items()]})
    titles = dict(_P_LINE.findall(prompt))
    ids = _enum(schema, "product_id")
    if _enum(schema, "segment_id"):  # refine: the final taxonomy's id of each product's segment
        s_of = {name: sid for sid, name in _S_LINE.findall(prompt)}
        segs = _enum(schema, "segment_id")
        return Reply(json={"assignments": [
            {"product_id": pid, "segment_id": s_of.get(SEGMENT_OF.get(titles.get(pid, ""), ""), segs[0])} for pid in ids]})
    seg = {pid: SEGMENT_OF.get(titles.get(pid, ""), "Other products") for pid in ids}  # extract
    return Reply(json={
        "segments": [{"name": n, "definition": DEFINITIONS.get(n, "Products that fit no other segment.")}
                     for n in dict.fromkeys(seg.values())],
        "assignments": [{"product_id": pid, "segment": seg[pid], "confidence": 0.9} for pid in ids]})


def make_products(n: int) -> list[int]:
    """``n`` products cycling through the demo catalog's 300, mixed as a catalog is (each title gets
    a SKU, so no two prompts repeat)."""
    from products.demo import seed_catalog
    from products.models import Category, Product

    seed_catalog()
    demo = list(Product.objects.filter(source=Product.Source.DEMO).select_related("subcategory").order_by("external_id"))
    category, _ = Category.objects.get_or_create(name="Bench catalog")
    rows = []
    for i in range(n):
        p = demo[(i * 37) % len(demo)]  # a stride coprime with 300: neighbours come from different subcategories
        segments = TAXONOMY[p.subcategory.name]
        title = f"{p.title} (SKU BX-{i + 1:06d})"
        SEGMENT_OF[title] = segments[zlib.crc32(p.title.encode()) % len(segments)][0]
        rows.append(Product(title=title, brand=p.brand, description=p.description, category=category,
                            attributes=p.attributes, price=p.price))
    return sorted(x.pk for x in Product.objects.bulk_create(rows, batch_size=2000))


def segmentation_run(ids: list[int], delivery: str, provider: str, model: str) -> str:
    """One real segmentation run over ``ids``; returns its run id (its LLMQuery rows' run)."""
    from django.contrib.auth import get_user_model

    from llm import batch as llm_batch
    from segmentation import pipeline
    from segmentation.models import SegmentationRun

    owner, _ = get_user_model().objects.get_or_create(username="bench")
    run = pipeline.start_run(owner=owner, product_ids=ids, category=CATEGORY, provider=provider, model=model,
                             delivery=delivery)
    if delivery == "interactive":
        pipeline.run_inline(run.pk, workers=1)
    else:
        for _ in range(500):
            if SegmentationRun.objects.get(pk=run.pk).status != SegmentationRun.Status.RUNNING:
                break
            if not batch_active(run.batch_owner):
                pipeline.batch_pass(run.pk)
            llm_batch.poll_due()
    run.refresh_from_db()
    if run.status != SegmentationRun.Status.COMPLETED:
        raise SystemExit(f"segmentation run {run.pk} ({delivery}) ended {run.status}: {run.error}")
    return run.pk


def batch_active(owner: str) -> bool:
    from llm.batch.models import LLMBatch

    return LLMBatch.objects.for_owner(owner).active().exists()


def price(rows: list[dict], model_row) -> dict:
    """Dollars of the rows' actual tokens at ``model_row``'s prices, per call (tiers are per call):
    total, per stage, and the input part alone per stage."""
    from llm.providers import Usage
    from llm.records.pricing import charge_for

    total, by_stage, input_by_stage = Decimal(0), {}, {}
    for r in rows:
        usage = Usage(input_tokens=r["input_tokens"], cached_input_tokens=r["cached_input_tokens"],
                      cache_write_input_tokens=r["cache_write_input_tokens"],
                      cache_write_1h_input_tokens=r["cache_write_1h_input_tokens"],
                      output_tokens=r["output_tokens"], reasoning_tokens=r["reasoning_tokens"])
        batch = r["delivery"] == "batch"
        cost = charge_for(model_row, usage, batch=batch).cost
        inp = charge_for(model_row, Usage(**{**usage.__dict__, "output_tokens": 0, "reasoning_tokens": 0}), batch=batch).cost
        if cost is None or inp is None:
            raise SystemExit(f"{model_row.provider.name}/{model_row.name} has no price in the bundled list")
        stage = STAGES.get(r["interaction_type"], r["interaction_type"])
        total += cost
        by_stage[stage] = by_stage.get(stage, Decimal(0)) + cost
        input_by_stage[stage] = input_by_stage.get(stage, Decimal(0)) + inp
    return {"total": total, "by_stage": by_stage, "input_by_stage": input_by_stage}


FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_input_tokens", "cache_write_1h_input_tokens",
          "output_tokens", "reasoning_tokens", "delivery", "interaction_type", "cost_usd")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=2000, help="products per run (default 2,000)")
    parser.add_argument("--providers", default="openai,anthropic,gemini",
                        help="provider kinds to run the four modes on (default all three)")
    parser.add_argument("--db-url", help="the database to use (default: DATABASE_URL)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--tiny", action="store_true", help="120 products: checks that the script runs")
    parser.add_argument("--refine-details", type=int, default=None,
                        help="characters of each product's description in the refine prompts "
                             "(SEGMENTATION_REFINE_DETAILS; default 240, the seed's line; 0: none)")
    args = parser.parse_args()
    if args.tiny:
        args.products = 120
    if args.db_url:
        os.environ["DATABASE_URL"] = args.db_url
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        os.environ.setdefault(key, "bench-key")
    kinds = [k.strip() for k in args.providers.split(",") if k.strip()]
    if not kinds or any(k not in {p for p, _ in MODELS} for k in kinds):
        parser.error(f"--providers takes a comma list of {', '.join(dict.fromkeys(p for p, _ in MODELS))}")

    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_test_environment

    from config.celery import app
    from llm import definitions
    from llm.bootstrap import ensure_defaults
    from llm.models import LLMCacheEntry, LLMModel, LLMProvider, LLMQuery
    from llm.testing.fake_provider import FakeProviderServer

    setup_test_environment()
    logging.getLogger("celery").setLevel(logging.WARNING)  # no line per eager task
    ensure_defaults()
    server = FakeProviderServer().start()
    server.set_default(segment_answer)
    for name, url in (("openai", server.openai_base_url), ("anthropic", server.anthropic_base_url),
                      ("gemini", server.gemini_base_url)):
        LLMProvider.objects.filter(name=name).update(base_url=url)
    definitions.forget()
    settings.LLM_CACHE_ENABLED = True  # the batch passes continue from the answer cache (emptied before each run)
    settings.SEGMENTATION_MAX_SEGMENTS = len(DEFINITIONS)
    if args.refine_details is not None:
        settings.SEGMENTATION_REFINE_DETAILS = args.refine_details
    app.conf.task_always_eager = True  # each delivery's next pass runs here, not on a worker
    n = args.products
    ids = make_products(n)

    runs: dict = {}  # kind -> mode -> {"rows", "calls", "by_stage", "wall_s", "model"}
    try:
        for kind in kinds:
            model = next(m for p, m in MODELS if p == kind)
            for mode, delivery, cached in MODES:
                LLMCacheEntry.objects.all().delete()  # every mode pays for every call
                server.prompt_cache.clear()
                server.prompt_cache.enabled = cached
                settings.LLM_PROMPT_CACHE = cached
                started = time.monotonic()
                run_id = segmentation_run(ids, delivery, kind, model)
                wall = time.monotonic() - started
                rows = list(LLMQuery.objects.filter(run_id=run_id).exclude(status="cache_hit").values(*FIELDS))
                calls: dict = {}
                for r in rows:
                    stage = STAGES.get(r["interaction_type"], r["interaction_type"])
                    calls[stage] = calls.get(stage, 0) + 1
                runs.setdefault(kind, {})[mode] = {"rows": rows, "calls": len(rows), "by_stage": calls, "wall_s": wall,
                                                   "model": model}
                print(f"ran {kind}/{model} {mode}: {len(rows)} calls in {wall:.1f} s", flush=True)
    finally:
        server.stop()
        app.conf.task_always_eager = False

    print()
    from segmentation import conf

    print(f"{n} products, taxonomy of {len(DEFINITIONS)} segments, refine lines with {conf.refine_details()} "
          f"characters of description; tokens from the fake provider "
          f"(cached tokens as each provider's wire reports them), prices from llm/data/prices.json")
    head = "".join(f"{m:>19}" for m, _, _ in MODES)
    print("dollars per 1,000 products (* = the model the runs used; the other is priced from the same rows):")
    print(f"{'model':<32}{head}  {'batch/int':>9} {'cached/int':>10} {'refine input saving':>20}")
    by_model: dict = {}
    for prov, mname in MODELS:
        if prov not in runs:
            continue
        row = LLMModel.objects.select_related("provider").filter(provider__name=prov, name=mname).first()
        if row is None:
            print(f"{prov}/{mname}: not in the price list, skipped")
            continue
        priced = {mode: price(runs[prov][mode]["rows"], row) for mode, _, _ in MODES}
        if mname == runs[prov]["interactive"]["model"]:  # the model that ran: its rows' own costs must agree
            for mode, _, _ in MODES:
                measured = sum((r["cost_usd"] or Decimal(0)) for r in runs[prov][mode]["rows"])
                # (each row is rounded to 1e-8 USD, so the sums may differ in the last digits)
                assert abs(measured - priced[mode]["total"]) <= Decimal("1e-6") * len(runs[prov][mode]["rows"]) + Decimal("1e-3") * measured, (mode, measured, priced[mode]["total"])
        per_1k = {mode: float(priced[mode]["total"]) / n * 1000 for mode in priced}
        refine_with = priced["interactive_cached"]["input_by_stage"].get("refine", Decimal(0))
        refine_without = priced["interactive"]["input_by_stage"].get("refine", Decimal(0))
        saving = float(1 - refine_with / refine_without) if refine_without else 0.0
        refine_with_b = priced["batch_cached"]["input_by_stage"].get("refine", Decimal(0))
        refine_without_b = priced["batch"]["input_by_stage"].get("refine", Decimal(0))
        saving_b = float(1 - refine_with_b / refine_without_b) if refine_without_b else 0.0
        by_model[f"{prov}/{mname}"] = {
            "usd_per_1k": per_1k, "refine_input_saving": saving, "refine_input_saving_batch": saving_b,
            "refine_input_usd_per_1k": {"uncached": float(refine_without) / n * 1000, "cached": float(refine_with) / n * 1000},
        }
        ratio = per_1k["batch"] / per_1k["interactive"] if per_1k["interactive"] else 0
        cratio = per_1k["interactive_cached"] / per_1k["interactive"] if per_1k["interactive"] else 0
        label = f"{prov}/{mname}" + (" *" if mname == runs[prov]["interactive"]["model"] else "")
        print(f"{label:<32}" + "".join(f"${per_1k[m]:.4f}".rjust(19) for m, _, _ in MODES)
              + f"  {ratio:>9.2f} {cratio:>10.2f} {saving:>19.1%}")
    print()
    print("refine stage, input dollars per 1,000 products (uncached -> cached, interactive; batch saving in brackets):")
    for name, m in by_model.items():
        r = m["refine_input_usd_per_1k"]
        ok = "meets" if m["refine_input_saving"] >= 0.40 else "MISSES"
        print(f"  {name:<32} ${r['uncached']:.4f} -> ${r['cached']:.4f}: {m['refine_input_saving']:.1%} saved "
              f"({m['refine_input_saving_batch']:.1%} in batch), {ok} the 40% target")
    print()
    print("calls and wall time per run (fake answering at once, so wall is our own work):")
    for kind, modes in runs.items():
        rows = [r for m in modes.values() for r in m["rows"] if r["interaction_type"] == "refine_assignments"]
        share = [r["cached_input_tokens"] / r["input_tokens"] for r in modes["interactive_cached"]["rows"]
                 if r["interaction_type"] == "refine_assignments" and r["input_tokens"]]
        for mode, _, _ in MODES:
            m = modes[mode]
            stages = ", ".join(f"{s} {c}" for s, c in m["by_stage"].items())
            print(f"  {kind}/{m['model']:<22} {mode:<19} calls {m['calls']:>5} ({m['calls'] / n:.4f} per product: {stages}), "
                  f"wall {m['wall_s']:.1f} s")
        if share:
            mean_in = sum(r["input_tokens"] for r in rows) / len(rows)
            print(f"  {kind}: refine prompts {mean_in:.0f} input tokens on average; the cached share of them "
                  f"(interactive_cached) {min(share):.1%}-{max(share):.1%}, mean {sum(share) / len(share):.1%} over {len(share)} calls")
    # 0.1% slack: a cost is rounded to 1e-8 USD per row, so half of a tiny total can round past half.
    batch_ok = all(m["usd_per_1k"][b] <= 0.5 * m["usd_per_1k"][i] * 1.001 + 1e-9
                   for m in by_model.values() for b, i in (("batch", "interactive"), ("batch_cached", "interactive_cached")))
    print(f"batch <= 0.5x interactive (with and without caching) on every model: {'yes' if batch_ok else 'NO'}")
    first = next(iter(by_model))
    if args.json:
        first_kind = first.split("/")[0]
        print(json.dumps({
            "model": first, "products": n, "segments": len(DEFINITIONS),
            "usd_per_1k": by_model[first]["usd_per_1k"], "refine_input_saving": by_model[first]["refine_input_saving"],
            "calls_per_product": {mode: runs[first_kind][mode]["calls"] / n for mode, _, _ in MODES},
            "wall_s": {f"{k}/{mode}": round(runs[k][mode]["wall_s"], 2) for k in runs for mode, _, _ in MODES},
            "by_model": by_model,
        }))
    return 0 if batch_ok else 1


if __name__ == "__main__":
    sys.exit(main())
