"""Segmentation results judged and promoted, through evals' public API.

A "wrong segment" mark is a human score (0) of the refine call that put the product there, with
the segment the person says is right (if they name one); "right" clears it to 1. Promoting a run
makes it a case of ``segmentation.labelled``: its products as the input, the refined segments as
the labels, the person's corrections applied (a product marked wrong without a correction is
left out of the labels).
"""

from __future__ import annotations

import evals

from llm.models import LLMQuery
from products.models import Product

from .models import UNASSIGNED, ProductTaxonomy, RefinedProductSegment, SegmentationBatch, SegmentationRun, Stage
from .pipeline import INTERACTION_TYPES

PromotionError = evals.PromotionError  # bad input to a mark or a promotion (the views show it)
SCORER = "segmentation.segment"
DATASET = "segmentation.labelled"


def subject(run: SegmentationRun, product_id: int) -> str:
    return f"segmentation.Run:{run.pk}:product:{product_id}"


def refine_query_id(run: SegmentationRun, product_id: int) -> int | None:
    """The refine call whose answer placed the product (its batch's last successful call)."""
    batch = (SegmentationBatch.objects.filter(run=run, stage=Stage.REFINE, product_ids__contains=[product_id])
             .values_list("index", flat=True).first())
    if batch is None:
        return None
    return (LLMQuery.objects.filter(run_id=run.pk, interaction_type=INTERACTION_TYPES[Stage.REFINE], batch=batch,
                                    status__in=[LLMQuery.Status.OK, LLMQuery.Status.CACHE_HIT])
            .order_by("-id").values_list("pk", flat=True).first())


def mark(run: SegmentationRun, product_id: int, user, *, wrong: bool, correct_position: int | None = None):
    row = RefinedProductSegment.objects.filter(run=run, product_id=product_id).select_related("taxonomy").first()
    if row is None:
        raise PromotionError(f"Product {product_id} has no segment in this run.")
    correct = None
    if wrong and correct_position:
        correct = ProductTaxonomy.objects.filter(run=run, position=correct_position).first()
        if correct is None:
            raise PromotionError(f"This run has no segment number {correct_position}.")
        if correct.pk == row.taxonomy_id:
            raise PromotionError("That is the segment it is in already: pick another, or mark it right.")
    query_id = refine_query_id(run, product_id)
    if not query_id:
        raise PromotionError("No logged refine call placed this product (was the run finished?).")
    return evals.human_score(
        query_id=query_id, scorer=SCORER, value=0.0 if wrong else 1.0, user=user, subject=subject(run, product_id),
        details={"assigned": row.taxonomy.category_name, **({"correct": correct.category_name} if correct else {})},
    )


def _corrections(run: SegmentationRun, user) -> dict[int, str | None]:
    """{product id: the right segment (None = wrong, right one not named)} from the user's marks."""
    prefix = f"segmentation.Run:{run.pk}:product:"
    out = {}
    for subj, (value, details) in evals.human_scores(scorer=SCORER, user=user, subject_prefix=prefix).items():
        if value < 1:
            out[int(subj[len(prefix):])] = details.get("correct")
    return out


def promote(run: SegmentationRun, user):
    if run.status != SegmentationRun.Status.COMPLETED:
        raise PromotionError("Only a completed run can become a labelled case.")
    assigned = dict(RefinedProductSegment.objects.filter(run=run).values_list("product_id", "taxonomy__category_name"))
    if not assigned:
        raise PromotionError("This run assigned no products.")
    fixes = _corrections(run, user)
    products = Product.objects.filter(pk__in=assigned).only("pk", "title", "brand", "description").order_by("pk")
    labels = {}
    for pid, name in assigned.items():
        if pid in fixes:
            if fixes[pid] is None:
                continue
            name = fixes[pid]
        labels[str(pid)] = None if name == UNASSIGNED else name
    return evals.promote(
        dataset=DATASET, suite=DATASET, source=f"segmentation.Run:{run.pk}", user=user,
        input={"category": run.category_name,
               "products": [{"key": str(p.pk), "title": p.title, "brand": p.brand, "description": p.description}
                            for p in products if str(p.pk) in labels]},
        expected=labels, tags=[run.category_name, f"{len(fixes)} corrected"],
    )
