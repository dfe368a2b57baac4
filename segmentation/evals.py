"""The segmentation app's evaluation suite (discovered by evals at start).

``segmentation.labelled`` runs the real three-stage pipeline (extract, consolidate, refine) over
labelled products and scores the segments it finds against the labels: adjusted Rand index
(the main score), normalised mutual information, coverage and 1 - the unassigned share. The
labels are in ``fixtures/labelled_dimmers.json`` (240 dimmer switches, 4 segments); promoted
runs add cases with the reviewer's corrections (see ``feedback``).
"""

from __future__ import annotations

import json
from pathlib import Path

from evals import register
from evals.registry import Suite
from evals.scorers import Scorer, ari, coverage, nmi, unassigned_share

FIXTURE = Path(__file__).parent / "fixtures" / "labelled_dimmers.json"
PRODUCTS_PER_CASE = 60
EXTERNAL_PREFIX = "evals.segmentation:"


def labelled_cases() -> list[dict]:
    doc = json.loads(FIXTURE.read_text())
    products = doc["products"]
    cases = []
    for n, start in enumerate(range(0, len(products), PRODUCTS_PER_CASE), 1):
        part = products[start:start + PRODUCTS_PER_CASE]
        cases.append({
            "key": f"{FIXTURE.stem}-{n}",
            "input": {"category": doc["category"],
                      "products": [{k: p[k] for k in ("key", "title", "brand", "description")} for p in part]},
            "expected": {p["key"]: p["label"] for p in part},
            "tags": [doc["category"]],
        })
    return cases


def _product_ids(case_input: dict) -> dict[int, str]:
    """{product id: case key}: promoted cases name catalog products; fixture cases get products of
    their own (external id ``evals.segmentation:<key>``, made once, reused by later runs)."""
    from products.models import Category, Product

    items = case_input.get("products") or []
    if not items:
        raise ValueError("The case has no products to segment.")
    keys = [str(p["key"]) for p in items]
    if all(k.isdigit() for k in keys):
        found = set(Product.objects.filter(pk__in=[int(k) for k in keys]).values_list("pk", flat=True))
        if len(found) == len(keys):
            return {int(k): k for k in keys}
    category, _ = Category.objects.get_or_create(name=case_input.get("category") or "Evaluation products")
    wanted = {f"{EXTERNAL_PREFIX}{p['key']}": p for p in items}
    have = dict(Product.objects.filter(external_id__in=wanted).values_list("external_id", "pk"))
    Product.objects.bulk_create([
        Product(external_id=ext, title=p["title"][:500], brand=p.get("brand", ""), description=p.get("description", ""),
                category=category)
        for ext, p in wanted.items() if ext not in have
    ], ignore_conflicts=True)
    have = dict(Product.objects.filter(external_id__in=wanted).values_list("external_id", "pk"))
    return {pk: ext[len(EXTERNAL_PREFIX):] for ext, pk in have.items()}


def run_labelled(case_input: dict, ctx) -> dict:
    from evals.context import acting_user
    from llm.models import LLMQuery

    from . import pipeline
    from .models import UNASSIGNED, RefinedProductSegment

    keys = _product_ids(case_input)
    run = pipeline.start_run(owner=acting_user(ctx), product_ids=sorted(keys), category=case_input.get("category", ""),
                             provider=ctx.provider or None, model=ctx.model or None,
                             temperature=ctx.params.get("temperature"), fresh=not ctx.use_cache)
    try:
        run = pipeline.run_inline(run.pk, workers=1)
    finally:
        ctx.record(*LLMQuery.objects.filter(run_id=run.pk).order_by("pk").values_list("pk", flat=True))
    if run.status != run.Status.COMPLETED:
        raise RuntimeError(f"The segmentation run {run.pk} ended {run.status}: {run.error or 'no error recorded'}")
    answer = {key: None for key in keys.values()}
    for pid, name in RefinedProductSegment.objects.filter(run=run).values_list("product_id", "taxonomy__category_name"):
        answer[keys[pid]] = None if name == UNASSIGNED else name
    return answer


def input_from_call(call) -> dict:
    """An extract or refine call as a case: the batch of catalog products it segmented (a
    consolidation call has no products of its own)."""
    from evals import PromotionError
    from products.models import Product

    from .models import SegmentationBatch, SegmentationRun, Stage

    stage = {"segmentation.segmentation": Stage.EXTRACT, "segmentation.refine_assignments": Stage.REFINE}.get(call.query.purpose)
    run = SegmentationRun.objects.filter(pk=call.query.run_id).first() if call.query.run_id else None
    batch = (SegmentationBatch.objects.filter(run=run, stage=stage, index=call.query.batch).first()
             if run is not None and stage is not None and call.query.batch is not None else None)
    if batch is None or not batch.product_ids:
        raise PromotionError(f"Call #{call.query.pk} is not a segmentation batch of products: promote an extract or "
                             "refine call, or the whole run from its results page.")
    products = Product.objects.filter(pk__in=batch.product_ids).only("pk", "title", "brand", "description").order_by("pk")
    return {"category": run.category_name,
            "products": [{"key": str(p.pk), "title": p.title, "brand": p.brand, "description": p.description}
                         for p in products]}


register(Suite(
    name="segmentation.labelled",
    description="The segmentation pipeline on labelled products: agreement of its segments with the labels (ARI).",
    run=run_labelled,
    scorers=[Scorer("ari", ari), Scorer("nmi", nmi), Scorer("coverage", coverage),
             Scorer("assigned_share", unassigned_share)],
    build_cases=labelled_cases,
    purposes=("segmentation.segmentation", "segmentation.refine_assignments"), input_from_call=input_from_call,
))
