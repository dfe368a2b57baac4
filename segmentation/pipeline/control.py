"""Run control: claiming a batch, doing it (dispatching to its stage), moving the run between
stages exactly once, and the finished run's summary.

Work is claimed with a conditional UPDATE and a row-count check, so two workers never do the
same batch; ``advance`` moves the run on with another conditional UPDATE.
"""

import json
import logging
from typing import Any, Callable

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from llm.calls.collect import BatchPending
from llm.errors import LLMError, ManualAnswerPending
from llm.models import LLMQuery

from .. import heartbeat
from ..models import ProductSegment, ProductTaxonomy, RefinedProductSegment, SegmentationBatch, SegmentationRun, Stage
from . import consolidate, extract, refine
from .base import Batch, Run, RunStopped
from .progress import changed_count, index_interactions, run_queries

logger = logging.getLogger("segmentation.pipeline")


# In the models' field order: Model.from_db takes a partial row in that order.
_CLAIM_BATCH_FIELDS = ("id", "run_id", "stage", "index", "product_ids", "status", "claimed_by", "first_pass", "attempts",
                       "started_at")
_CLAIM_RUN_FIELDS = ("id", "owner_id", "category_name", "status", "stage", "model_config", "processing_params",
                     "total_products", "created_at")
_JSON_FIELDS = {"product_ids", "first_pass", "model_config", "processing_params"}


def claim(batch_id: int, token: str) -> SegmentationBatch | None:
    """Claim a pending batch (or re-enter one this same task id claimed before a redelivery).

    One round trip: a conditional UPDATE joined with the run (which must be running) that
    returns the batch and the run fields the work needs. Rows are built with ``from_db``, so
    any other field (the owner's too) is loaded lazily if something asks for it. The ORM path
    (QuerySet.update, then a select_related get) is 3.6x slower: 4.2 ms against 15.3 ms, 101
    claims a 2,000-product run (bench/segmentation_sql_paths.py), so the raw statement stays.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection

    now = timezone.now()
    if connection.vendor != "postgresql":  # SQLite's RETURNING cannot name the joined run
        mine = Q(status=Batch.Status.PENDING) | Q(status=Batch.Status.RUNNING, claimed_by=token)
        updated = Batch.objects.filter(mine, pk=batch_id, run__status=Run.Status.RUNNING).update(
            status=Batch.Status.RUNNING, claimed_by=token, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now)
        return Batch.objects.select_related("run", "run__owner").get(pk=batch_id) if updated else None
    returning = ", ".join([f'b."{f}"' for f in _CLAIM_BATCH_FIELDS] + [f'r."{f}"' for f in _CLAIM_RUN_FIELDS])
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{Batch._meta.db_table}" AS b SET "status" = %s, "claimed_by" = %s, "attempts" = b."attempts" + 1, '
            f'"started_at" = %s, "heartbeat_at" = %s FROM "{Run._meta.db_table}" AS r '
            f'WHERE b."id" = %s AND r."id" = b."run_id" AND r."status" = %s '
            f'AND (b."status" = %s OR (b."status" = %s AND b."claimed_by" = %s)) RETURNING {returning}',
            [Batch.Status.RUNNING, token, now, now, batch_id, Run.Status.RUNNING, Batch.Status.PENDING,
             Batch.Status.RUNNING, token],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    names = [*_CLAIM_BATCH_FIELDS, *(f"run.{f}" for f in _CLAIM_RUN_FIELDS)]
    values = {name: (json.loads(v) if name.split(".")[-1] in _JSON_FIELDS and isinstance(v, str) else v)
              for name, v in zip(names, row)}
    run = Run.from_db(connection.alias, list(_CLAIM_RUN_FIELDS), [values[f"run.{f}"] for f in _CLAIM_RUN_FIELDS])
    run.owner = get_user_model().from_db(connection.alias, ["id"], [run.owner_id])
    batch = Batch.from_db(connection.alias, list(_CLAIM_BATCH_FIELDS), [values[f] for f in _CLAIM_BATCH_FIELDS])
    batch.run = run
    return batch


def release(batch: SegmentationBatch) -> None:
    Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING, claimed_by=batch.claimed_by).update(
        status=Batch.Status.PENDING, claimed_by=""
    )


def process_batch(batch_id: int, token: str) -> str:
    """Do one batch. Returns done, skipped, stopped, waiting, batched or failed."""
    return run_one(batch_id, token)


def run_one(batch_id: int, token: str, *, start: Callable[[list[int]], Any] | None = None) -> str:
    """Claim and do one batch. With ``start``, a batch that ends its stage moves the run on and
    hands the next stage's batch ids to ``start`` (the Celery task enqueues them). Returns done,
    skipped, stopped, waiting or failed."""
    batch = claim(batch_id, token)
    if batch is None:
        return "skipped"
    with heartbeat.beating(batch.pk, token):
        outcome = _process(batch)
    if outcome != "done" or start is None:
        return outcome
    # Cheap common case: other batches of this stage are still unfinished (one indexed EXISTS).
    if batch.stage != Stage.CONSOLIDATE and (
        Batch.objects.filter(run_id=batch.run_id, stage=batch.stage).exclude(status=Batch.Status.DONE).exists()
    ):
        return outcome
    next_ids = advance(batch.run_id)
    if batch.stage == Stage.CONSOLIDATE:
        next_ids = next_ids + pending_batches(batch.run_id)
    if next_ids:
        start(next_ids)
        # The finished stage's calls go into the interaction index once the next stage is under
        # way, not before (finalize, failures and resumes index too; this is idempotent).
        index_interactions(batch.run)
    return outcome


def _process(batch: SegmentationBatch) -> str:
    run = batch.run
    done = False
    try:
        if batch.stage == Stage.EXTRACT:
            extract.run_batch(run, batch)
        elif batch.stage == Stage.CONSOLIDATE:
            consolidate.run_batch(run, batch)
        else:
            refine.run_batch(run, batch)
        done = True
        return "done"
    except RunStopped:
        release(batch)
        return "stopped"
    except ManualAnswerPending:
        release(batch)
        Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(status=Run.Status.WAITING_MANUAL)
        return "waiting"
    except BatchPending:
        # delivery=batch: the call was gathered for a provider batch (pipeline/batched.py); the
        # batch goes back to pending and the pass after the delivery runs it on from the cache.
        release(batch)
        done = True  # nothing new to index: no call was made
        return "batched"
    except Exception as exc:  # the run records why; the task logs the traceback
        if not isinstance(exc, LLMError):
            logger.exception("Segmentation %s %s batch %s failed", run.pk, batch.stage, batch.index)
        message = f"{batch.get_stage_display()}, batch {batch.index}: {exc}"
        Batch.objects.filter(pk=batch.pk, claimed_by=batch.claimed_by).update(
            status=Batch.Status.FAILED, error=message[:5000], claimed_by=""
        )
        Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
            status=Run.Status.FAILED, error=message[:5000] + " Resume the run to try again.", updated_at=timezone.now()
        )
        return "failed"
    finally:
        # A finished batch's calls are indexed when its stage ends (one query per stage, not per
        # batch); a stopped or failed one's right away, so its attempts show on the run page.
        if not done:
            index_interactions(run, since=batch.started_at)


def advance(run_id: str) -> list[int]:
    """Move the run on when its current stage is finished; returns batch ids to start now.

    The stage change is a conditional UPDATE, so when several batches finish together exactly
    one caller moves the run on.
    """
    run = Run.objects.filter(pk=run_id).first()
    if run is None or run.status != Run.Status.RUNNING:
        return []
    unfinished = Batch.objects.filter(run=run, stage=run.stage).exclude(status=Batch.Status.DONE)
    if run.stage == Stage.EXTRACT:
        if unfinished.exists():
            return []
        with transaction.atomic():
            if not Run.objects.filter(pk=run.pk, stage=Stage.EXTRACT).update(stage=Stage.CONSOLIDATE, updated_at=timezone.now()):
                return []
            claim_batch, _ = Batch.objects.get_or_create(run=run, stage=Stage.CONSOLIDATE, index=0)
        return [claim_batch.pk]
    if run.stage == Stage.CONSOLIDATE:
        claim_batch, _ = Batch.objects.get_or_create(run=run, stage=Stage.CONSOLIDATE, index=0)
        return [claim_batch.pk] if claim_batch.status == Batch.Status.PENDING else []
    if run.stage == Stage.REFINE and not unfinished.exists():
        with transaction.atomic():
            if Run.objects.filter(pk=run.pk, stage=Stage.REFINE, status=Run.Status.RUNNING).update(stage=Stage.DONE):
                finalize(run)
    return []


def finalize(run: SegmentationRun) -> None:
    index_interactions(run)
    counts = dict(RefinedProductSegment.objects.filter(run=run).values_list("taxonomy").annotate(n=Count("id")))
    for taxon in ProductTaxonomy.objects.filter(run=run):
        n = counts.get(taxon.pk, 0)
        if taxon.is_unassigned and n == 0 and not ProductSegment.objects.filter(taxonomy=taxon).exists():
            taxon.delete()
        elif taxon.product_count != n:
            ProductTaxonomy.objects.filter(pk=taxon.pk).update(product_count=n)
    extract_unassigned = unknown = retries = duplicates = 0
    for stage, result in Batch.objects.filter(run=run).exclude(index=0, stage=Stage.CONSOLIDATE).values_list("stage", "result"):
        unknown += len(result.get("unknown_ids") or [])
        retries += result.get("retries") or 0
        duplicates += result.get("duplicates") or 0
        if stage == Stage.EXTRACT:
            extract_unassigned += len(result.get("unassigned") or [])
    refined = RefinedProductSegment.objects.filter(run=run)
    changed = changed_count(run)
    calls = run_queries(run)
    # Tokens the provider processed: a cache hit (a resumed run's, or a batch pass picking up its
    # delivered answer) repeats the tokens of the call that paid for them, and is not counted again.
    totals = calls.exclude(status=LLMQuery.Status.CACHE_HIT).aggregate(
        cost=Sum("cost_usd"), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"))
    summary = {
        "products": run.total_products,
        "refined_products": refined.count(),
        "taxonomies": ProductTaxonomy.objects.filter(run=run, is_unassigned=False).count(),
        "unassigned": refined.filter(taxonomy__is_unassigned=True).count(),
        "unassigned_first_pass": ProductSegment.objects.filter(run=run, taxonomy__is_unassigned=True).count(),
        "extract_unassigned": extract_unassigned,
        "changed_in_refinement": changed,
        "unknown_ids_ignored": unknown,
        "duplicate_ids": duplicates,
        "retries": retries,
        "llm_calls": calls.count(),
        "llm_calls_ok": calls.filter(status=LLMQuery.Status.OK).count(),
        "input_tokens": totals["input_tokens"] or 0,
        "output_tokens": totals["output_tokens"] or 0,
        "cost_usd": str(totals["cost"]) if totals["cost"] is not None else None,
        "duration_s": round((timezone.now() - run.created_at).total_seconds(), 1),
    }
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        status=Run.Status.COMPLETED, result_summary=summary, finished_at=timezone.now(), updated_at=timezone.now(),
        processed_products=summary["refined_products"],
    )


def pending_batches(run_id: str) -> list[int]:
    """Ids of the current stage's batches waiting for a worker (not the consolidation call records)."""
    run = Run.objects.filter(pk=run_id).only("stage").first()
    if run is None:
        return []
    return list(
        Batch.objects.filter(run_id=run_id, stage=run.stage, status=Batch.Status.PENDING)
        .exclude(stage=Stage.CONSOLIDATE, index__gt=0).order_by("index").values_list("pk", flat=True)
    )


