"""Bulk generation: many raw inputs, one Celery task per item, each step resumable.

An item runs the session steps of ``pipeline`` in order and accepts the suggested
subcategory. Steps whose result exists are skipped, so a redelivered or resumed task
continues where the last one stopped (and the llm answer cache makes repeated requests free).
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

import llm
from llm.errors import LLMError

from . import conf, pipeline
from .generation import GenerationError
from .models import BulkGenerationItem, BulkGenerationJob, Step, StepStatus

logger = logging.getLogger(__name__)

# A RUNNING item not touched for this long belongs to a worker that died: it may be claimed again.
STALE_AFTER = timedelta(minutes=15)


class BadInput(ValueError):
    pass


def read_csv(lines) -> list[str]:
    """Raw inputs from CSV rows: a ``text`` column, or ``title`` and ``description``."""
    reader = csv.DictReader(lines)
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    if "text" not in columns and "title" not in columns:
        raise BadInput("The CSV needs a header with a `text` column, or `title` (and optionally `description`).")
    inputs, limit = [], conf.bulk_max_rows()
    for row in reader:
        if "text" in columns:
            text = (row.get(columns["text"]) or "").strip()
        else:
            title = (row.get(columns["title"]) or "").strip()
            description = (row.get(columns["description"]) or "").strip() if "description" in columns else ""
            text = "\n\n".join(part for part in (title, description) if part)
        if not text:
            continue
        inputs.append(text.replace("\x00", ""))
        if len(inputs) > limit:
            raise BadInput(f"The CSV has more than {limit} rows; split it into smaller files.")
    if not inputs:
        raise BadInput("The CSV has no rows with text.")
    return inputs


def read_csv_bytes(data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"The file is not UTF-8 text ({exc.reason}).") from exc
    try:
        return read_csv(io.StringIO(text, newline=""))
    except csv.Error as exc:
        raise BadInput(f"The file is not readable CSV: {exc}.") from exc


def create_job(*, owner, inputs: list[str], provider_name: str = "", model_name: str = "", name: str = "",
               enqueue: bool = True, delivery: str = "interactive") -> BulkGenerationJob:
    from llm import batch as llm_batch

    delivery = llm_batch.effective_delivery(delivery, provider_name or conf.default_provider() or None,
                                            model_name or conf.default_model() or None)
    with transaction.atomic():
        job = BulkGenerationJob.objects.create(
            owner=owner, name=name[:200], provider_name=provider_name, model_name=model_name, total=len(inputs),
            delivery=delivery,
        )
        BulkGenerationItem.objects.bulk_create(
            BulkGenerationItem(job=job, position=n, raw_input=text) for n, text in enumerate(inputs, start=1)
        )
        if enqueue:
            transaction.on_commit(lambda: enqueue_job(job.pk))
    return job


RUN_ITEM_TASK = "products.tasks.run_bulk_item"
BATCH_PASS_TASK = "products.tasks.run_bulk_batch_pass"




def send_item(item_id: int) -> None:
    llm.enqueue(RUN_ITEM_TASK, item_id)  # by name: products/tasks.py imports this module, not the reverse


def send_batch_pass(job_id: int) -> None:
    llm.enqueue(BATCH_PASS_TASK, job_id)


def enqueue_job(job_id: int) -> None:
    if BulkGenerationJob.objects.filter(pk=job_id, delivery="batch").exists():
        send_batch_pass(job_id)
        return
    for item_id in BulkGenerationItem.objects.filter(job_id=job_id, status=BulkGenerationItem.Status.QUEUED).values_list(
        "pk", flat=True
    ):
        send_item(item_id)


def _claim(item_id: int) -> bool:
    stale = timezone.now() - STALE_AFTER
    return bool(
        BulkGenerationItem.objects.filter(pk=item_id)
        .filter(
            Q(status=BulkGenerationItem.Status.QUEUED)
            | Q(status=BulkGenerationItem.Status.RUNNING, updated_at__lt=stale)
        )
        .update(status=BulkGenerationItem.Status.RUNNING, updated_at=timezone.now())
    )


def _finish(item: BulkGenerationItem, status: str, error: str = "") -> BulkGenerationItem:
    item.status, item.error = status, error[:5000]
    item.save(update_fields=["status", "error", "updated_at"])
    item.job.refresh_counts()
    return item


def run_item(item_id: int) -> BulkGenerationItem | None:
    """Run one item to the end, or to a pause (copy/paste) or a failure. None when another worker has it."""
    if not _claim(item_id):
        return None
    item = BulkGenerationItem.objects.select_related("job", "job__owner", "session").get(pk=item_id)
    item.job.refresh_counts()
    try:
        return _run(item)
    except OperationalError:
        # The database blinked: put the item back so the task's retry can claim it again.
        BulkGenerationItem.objects.filter(pk=item.pk).update(status=BulkGenerationItem.Status.QUEUED)
        raise
    except Exception as exc:
        logger.exception("Bulk item %s failed", item.pk)
        return _finish(item, BulkGenerationItem.Status.FAILED, f"{type(exc).__name__}: {exc}")


def _paused_or_failed(item: BulkGenerationItem, step: str) -> BulkGenerationItem | None:
    session = item.session
    status = session.status_of(step)
    if status == StepStatus.WAITING_MANUAL:
        return _finish(item, BulkGenerationItem.Status.WAITING_MANUAL,
                       f"Waiting for a pasted answer to query #{session.pending_query_id}.")
    return _finish(item, BulkGenerationItem.Status.FAILED, (session.step_errors or {}).get(step, "The step failed."))


def _run(item: BulkGenerationItem) -> BulkGenerationItem:
    job = item.job
    if item.session is None:
        try:
            item.session = pipeline.create_session(
                owner=job.owner, raw_input=item.raw_input, provider_name=job.provider_name, model_name=job.model_name
            )
        except GenerationError as exc:
            return _finish(item, BulkGenerationItem.Status.FAILED, str(exc))
        item.save(update_fields=["session", "updated_at"])
    session = item.session
    if not pipeline.run_identify(session):
        return _paused_or_failed(item, Step.IDENTIFY_CATEGORY)
    if not session.subcategory_id:
        pipeline.choose_subcategory(session, session.suggested_subcategory)
    if not pipeline.run_map(session):
        return _paused_or_failed(item, Step.MAP_ATTRIBUTES)
    if not pipeline.run_generate(session):
        return _paused_or_failed(item, Step.GENERATE)
    try:
        pipeline.save(session)
    except ValidationError as exc:
        return _finish(item, BulkGenerationItem.Status.NEEDS_REVIEW,
                       "Open it in the wizard to fix: " + "; ".join(exc.messages))
    _, problems = pipeline.effective_attributes(session)
    note = ("Saved without these invalid values: " + "; ".join(f"{k}: {v}" for k, v in problems.items())) if problems else ""
    return _finish(item, BulkGenerationItem.Status.DONE, note)


# --- delivery=batch: each step of every item goes out in provider batches (llm/batch/) -----------
BATCH_HANDLER = "products.bulk"


def batch_pass(job_id: int) -> int:
    """Run every queued item as far as the answers already delivered take it (the same ``_run`` as
    interactive delivery), gather the next call of each, and send them as provider batches.
    Returns how many calls went out; 0 means every item has finished."""
    from llm import batch as llm_batch

    job = BulkGenerationJob.objects.select_related("owner").get(pk=job_id)
    gathered, waiting = [], []
    for item in job.items.filter(status=BulkGenerationItem.Status.QUEUED).select_related("job", "job__owner", "session"):
        with llm_batch.collecting() as calls:
            try:
                _run(item)
            except llm_batch.BatchPending:
                pass  # its next step's call is in ``calls``; the item stays queued
            except OperationalError:
                raise
            except Exception as exc:
                logger.exception("Bulk item %s failed", item.pk)
                _finish(item, BulkGenerationItem.Status.FAILED, f"{type(exc).__name__}: {exc}")
        gathered += calls
        if calls:
            waiting.append(item)
    if gathered:
        try:
            llm_batch.submit_gathered(owner=job.batch_owner, handler=BATCH_HANDLER, gathered=gathered, user=job.owner)
        except LLMError as exc:  # refused before anything was sent (a budget, a missing key): say so on each item
            for item in waiting:
                _finish(item, BulkGenerationItem.Status.FAILED, f"The provider batch was not sent: {exc}")
            gathered = []
    job.refresh_counts()
    return len(gathered)


class BatchHandler:
    """llm.batch delivers each answer through complete() (so it is in the answer cache); the next
    pass runs the items on from there."""

    @staticmethod
    def _job(owner: str) -> BulkGenerationJob | None:
        return BulkGenerationJob.objects.filter(pk=int(owner.rsplit(":", 1)[1])).first()

    def on_answer(self, owner, key, completion) -> None:
        pass

    def on_error(self, owner, key, error) -> None:
        from llm import batch as llm_batch

        job = self._job(owner)
        if job is None:
            return
        # The items waiting on this request finish on the interactive path, which logs the failure
        # in their step logs as usual (or, cancelled, stop here).
        for item in job.items.filter(status=BulkGenerationItem.Status.QUEUED).select_related("job", "job__owner", "session"):
            with llm_batch.collecting() as calls:
                try:
                    _run(item)
                    continue
                except llm_batch.BatchPending as pending:
                    waiting_on = pending.custom_id
            if waiting_on != key:
                continue
            if isinstance(error, llm_batch.BatchCancelled):
                _finish(item, BulkGenerationItem.Status.FAILED, "Cancelled: the provider batch was cancelled.")
            else:
                run_item(item.pk)

    def on_finished(self, owner) -> None:
        from llm import batch as llm_batch

        job = self._job(owner)
        if job is None:
            return
        if (llm_batch.summary(owner) or {}).get("cancelled"):
            job.items.filter(status=BulkGenerationItem.Status.QUEUED).update(
                status=BulkGenerationItem.Status.FAILED, error="Cancelled before this item's next step was sent.")
            job.refresh_counts()
            return
        transaction.on_commit(lambda: send_batch_pass(job.pk))


def cancel_batches(job: BulkGenerationJob) -> int:
    from llm import batch as llm_batch

    return llm_batch.cancel(job.batch_owner)


def resume_items_waiting_on(query) -> int:
    """Requeue the items whose step waited for this pasted answer (llm.signals.manual_answer_accepted)."""
    ids = list(
        BulkGenerationItem.objects.filter(
            session__pending_query=query, status=BulkGenerationItem.Status.WAITING_MANUAL
        ).values_list("pk", flat=True)
    )
    for item_id in ids:
        if BulkGenerationItem.objects.filter(pk=item_id, status=BulkGenerationItem.Status.WAITING_MANUAL).update(
            status=BulkGenerationItem.Status.QUEUED
        ):
            transaction.on_commit(lambda item_id=item_id: send_item(item_id))
    return len(ids)
