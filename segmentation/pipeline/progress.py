"""What a run has done: its LLM calls and their index, the stage progress and ETA, the
first-pass/refined comparison the results page shows."""

import math
from datetime import timedelta

from django.db.models import Count, F, OuterRef, Subquery
from django.utils import timezone

from llm.records import interactions
from llm.models import LLMQuery

from .. import conf, prompting
from ..models import LLMInteractionIndex, ProductSegment, RefinedProductSegment, SegmentationRun, Stage
from .base import PROMPT_OF_TYPE, Batch, Run


def changed_count(run: SegmentationRun) -> int:
    return with_first_pass(RefinedProductSegment.objects.filter(run=run)).exclude(taxonomy_id=F("first_taxonomy_id")).count()


def with_first_pass(refined):
    """Annotate refined rows with their first-pass taxonomy and confidence (one query, no dict in memory)."""
    first = ProductSegment.objects.filter(run_id=OuterRef("run_id"), product_id=OuterRef("product_id"))
    return refined.annotate(first_taxonomy_id=Subquery(first.values("taxonomy_id")[:1]),
                            first_confidence=Subquery(first.values("confidence")[:1]))


def run_queries(run: SegmentationRun, since=None):
    """The run's LLMQuery rows. Filtered by owner and time first: llm_query has a (user, created_at)
    index but none on run_id, and it is the biggest table of the house."""
    return LLMQuery.objects.filter(user_id=run.owner_id, created_at__gte=since or run.created_at, run_id=run.pk)


def index_interactions(run: SegmentationRun, since=None) -> int:
    """Index every LLMQuery of the run (each attempt, failures too) that is not indexed yet."""
    queries = run_queries(run, since).exclude(status=LLMQuery.Status.STARTED)
    if since is not None:
        queries = queries.exclude(pk__in=LLMInteractionIndex.objects.filter(run=run, created_at__gte=since).values("query_id"))
    else:
        queries = queries.exclude(pk__in=LLMInteractionIndex.objects.filter(run=run).values("query_id"))
    rows = [
        LLMInteractionIndex(
            run=run, interaction_type=itype, batch_id=batch, attempt=attempt, file_path=file_path,
            prompt_file=_prompt_file(run.pk, itype), cache_key=cache_key[:64], sha256=sha, status=status, query_id=pk,
        )
        for pk, itype, batch, attempt, file_path, cache_key, sha, status in queries.order_by("pk").values_list(
            "pk", "interaction_type", "batch", "attempt", "file_path", "cache_key", "file_sha256", "status")
    ]
    LLMInteractionIndex.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _prompt_file(run_id: str, interaction_type: str) -> str:
    name = PROMPT_OF_TYPE.get(interaction_type)
    return f"{interactions.ROOT}/{run_id}/prompts/{prompting.TEMPLATES[name][1]}.txt" if name else ""




def consolidation_calls(taxonomies: int, per_call: int) -> int:
    """How many consolidation prompts ``taxonomies`` batch taxonomies need (one per group, level by level)."""
    calls, n = 0, max(taxonomies, 1)
    while True:
        n = math.ceil(n / per_call)
        calls += n
        if n <= 1:
            return calls


def progress(run: SegmentationRun) -> dict:
    """Per-stage batch counts, overall percent, and an ETA from the observed batch rate."""
    counts: dict[tuple[str, str], int] = {}
    for stage, status, n in (Batch.objects.filter(run=run).exclude(stage=Stage.CONSOLIDATE, index=0)
                             .values_list("stage", "status").annotate(n=Count("id"))):
        counts[(stage, status)] = n

    def total(stage):
        return sum(n for (s, _), n in counts.items() if s == stage)

    def done(stage):
        return counts.get((stage, Batch.Status.DONE), 0)

    refine_size = run.processing_params.get("products_per_refinement") or conf.products_per_refinement()
    per_call = run.processing_params.get("taxonomies_per_consolidation") or conf.taxonomies_per_consolidation()
    expected_refine = math.ceil(run.total_products / max(1, refine_size)) if run.total_products else 0
    consolidate_done = run.stage in (Stage.REFINE, Stage.DONE)
    stages = [
        {"key": Stage.EXTRACT.value, "label": Stage.EXTRACT.label, "done": done(Stage.EXTRACT), "total": total(Stage.EXTRACT)},
        {"key": Stage.CONSOLIDATE.value, "label": Stage.CONSOLIDATE.label, "done": done(Stage.CONSOLIDATE),
         "total": max(total(Stage.CONSOLIDATE), consolidation_calls(total(Stage.EXTRACT), per_call)), "finished": consolidate_done},
        {"key": Stage.REFINE.value, "label": Stage.REFINE.label, "done": done(Stage.REFINE),
         "total": total(Stage.REFINE) or expected_refine},
    ]
    for s in stages:
        if s.pop("finished", False) or (s["total"] and s["done"] >= s["total"] and s["key"] != Stage.CONSOLIDATE):
            s["percent"] = 100.0
        else:
            s["percent"] = min(99.0, round(100.0 * s["done"] / s["total"], 1)) if s["total"] else 0.0
        s["current"] = run.stage == s["key"]
    if run.status == Run.Status.COMPLETED:
        percent = 100.0
    else:
        parts = [stages[0]["percent"], 100.0 if consolidate_done else 0.0, stages[2]["percent"]]
        percent = round((parts[0] * 0.45 + parts[1] * 0.1 + parts[2] * 0.45), 1)
    units_done = stages[0]["done"] + stages[1]["done"] + stages[2]["done"]
    units_left = sum(max(0, s["total"] - s["done"]) for s in stages)
    eta = None
    if run.is_active and units_done and units_left > 0:
        elapsed = (timezone.now() - run.created_at).total_seconds()
        eta = timezone.now() + timedelta(seconds=elapsed / units_done * units_left)
    elif run.status == Run.Status.COMPLETED:
        eta = run.finished_at
    return {"stages": stages, "progress_percent": percent, "estimated_completion": eta}


