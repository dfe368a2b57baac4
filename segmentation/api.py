"""JSON API (seed 004 section 9): start a run, poll its status, read its results; cancel and resume."""

from datetime import datetime
from typing import Any

from django.db import transaction
from ninja import Field, Router, Schema
from ninja.errors import HttpError

from . import pipeline
from .models import RefinedProductSegment
from .tasks import start as start_work
from .views import get_run_for_user

router = Router(tags=["segmentation"])


class StartIn(Schema):
    # Any, not int: a bad id is a 400 that names it (pipeline.start_run), not a bare 422.
    product_ids: list[Any] = Field(default=[], json_schema_extra={"example": [101, 102, 103]})
    category: str = ""
    model: str | None = None
    temperature: float | None = None
    provider: str | None = None
    delivery: str = Field(default="interactive", description="interactive, or batch: each stage's calls in provider "
                          "batches at batch prices (the copy/paste provider runs interactively).")


class StartOut(Schema):
    run_id: str
    status: str
    total_products: int


class StageOut(Schema):
    key: str
    label: str
    done: int
    total: int
    percent: float


class StatusOut(Schema):
    run_id: str
    status: str
    stage: str
    total_products: int
    processed_products: int
    progress_percent: float
    estimated_completion: datetime | None
    stages: list[StageOut]
    error: str
    result_summary: dict


class TaxonomyOut(Schema):
    id: int
    category_name: str
    definition: str
    product_count: int


class SegmentOut(Schema):
    product_id: int
    taxonomy_id: int
    confidence: float | None
    first_pass_taxonomy_id: int | None


class ResultsOut(Schema):
    run_id: str
    status: str
    taxonomies: list[TaxonomyOut]
    segments: list[SegmentOut]
    result_summary: dict


@router.post("/start", response=StartOut, summary="Start a segmentation run over an explicit list of products")
def start(request, payload: StartIn):
    try:
        with transaction.atomic():
            run = pipeline.start_run(
                owner=request.user, product_ids=payload.product_ids, category=payload.category,
                provider=payload.provider, model=payload.model, temperature=payload.temperature,
                delivery=payload.delivery,
            )
            start_work(run.pk, pipeline.pending_batches(run.pk))
    except pipeline.StartError as exc:
        raise HttpError(400, str(exc)) from None
    return {"run_id": run.pk, "status": "started", "total_products": run.total_products}


def status_of(run) -> dict:
    progress = pipeline.progress(run)
    return {
        "run_id": run.pk, "status": run.status, "stage": run.stage, "total_products": run.total_products,
        "processed_products": run.processed_products, "progress_percent": progress["progress_percent"],
        "estimated_completion": progress["estimated_completion"], "stages": progress["stages"], "error": run.error,
        "result_summary": run.result_summary,
    }


@router.get("/{run_id}/status", response=StatusOut, summary="Progress of a run")
def status(request, run_id: str):
    return status_of(get_run_for_user(request, run_id))


@router.get("/{run_id}/results", response=ResultsOut, summary="Taxonomy and assignments of a run")
def results(request, run_id: str):
    run = get_run_for_user(request, run_id)
    rows = (pipeline.with_first_pass(RefinedProductSegment.objects.filter(run=run)).order_by("product_id")
            .values_list("product_id", "taxonomy_id", "first_confidence", "first_taxonomy_id"))
    segments = [{"product_id": pk, "taxonomy_id": taxon, "confidence": confidence, "first_pass_taxonomy_id": first}
                for pk, taxon, confidence, first in rows.iterator(chunk_size=2000)]
    taxonomies = list(run.taxonomies.order_by("position").values("id", "category_name", "definition", "product_count"))
    return {"run_id": run.pk, "status": run.status, "taxonomies": taxonomies, "segments": segments,
            "result_summary": run.result_summary}


@router.post("/{run_id}/cancel", response=StatusOut, summary="Cancel a running run")
def cancel(request, run_id: str):
    run = get_run_for_user(request, run_id)
    if not pipeline.cancel_run(run):
        raise HttpError(409, f"Run {run.pk} is {run.status}; only a running run can be cancelled.")
    run.refresh_from_db()
    return status_of(run)


@router.post("/{run_id}/resume", response=StatusOut, summary="Resume a failed, cancelled or interrupted run")
def resume(request, run_id: str):
    run = get_run_for_user(request, run_id)
    if run.status == run.Status.COMPLETED:
        raise HttpError(409, f"Run {run.pk} is already completed.")
    with transaction.atomic():
        start_work(run.pk, pipeline.resume_run(run))
    run.refresh_from_db()
    return status_of(run)
