"""The watchdog: work whose task died is resumed, or after WATCHDOG_MAX_RESUMES marked failed.

Every kind of background work keeps a status and a time of last progress. Work found "running"
with no progress for WATCHDOG_STALE_AFTER (and past its own app's stale-claim threshold, so the
re-enqueued task may take the claim over) belonged to a worker that died: it is put back to
"queued" with a conditional UPDATE and its task is enqueued again. Work still "queued" that long
is re-enqueued only when its queue is empty: then its message was lost (a purged queue, a broker
restart without persistence); while the queue still holds messages it is simply waiting its turn.

Each resume is counted (ops.WatchdogRecord); work that needs more than WATCHDOG_MAX_RESUMES
resumes is marked failed with the reason, so nothing stays "running" forever. Segmentation runs
keep their own resume logic (segmentation.tasks.resume_stale_runs); the watchdog calls it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Max, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from .models import WatchdogRecord

logger = logging.getLogger(__name__)


@dataclass
class Source:
    """One kind of work: how to find its stuck rows, resume one, and fail one."""

    kind: str
    task_name: str
    stale: Callable[[datetime, bool], list[int]]  # (now, include_queued) -> primary keys
    resume: Callable[[int, datetime], bool]  # put back to queued (conditionally) and enqueue
    fail: Callable[[int, str], None]


@dataclass
class Report:
    resumed: dict[str, list[int]] = field(default_factory=dict)
    failed: dict[str, list[int]] = field(default_factory=dict)
    segmentation_batches: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"resumed": self.resumed, "failed": self.failed, "segmentation_batches": self.segmentation_batches,
                "errors": self.errors}


def _cutoff(now: datetime, *at_least: float) -> datetime:
    return now - timedelta(seconds=max((settings.WATCHDOG_STALE_AFTER, *at_least)))


def waiting_messages(task_name: str) -> int | None:
    """Messages waiting in the queue ``task_name`` is routed to; None when the broker cannot say."""
    from config.celery import app

    try:
        queue = app.amqp.router.route({}, task_name)["queue"].name
        with app.connection_for_read() as conn:
            # Not passive: a queue nobody declared yet is simply empty (workers declare it the same way).
            return conn.default_channel.queue_declare(queue=queue).message_count
    except Exception as exc:  # a probe: the watchdog then leaves queued work alone
        logger.warning("watchdog: could not read the length of %s's queue: %s", task_name, exc)
        return None


def _stale_by_updated_at(model, running_after_seconds: float, now, include_queued) -> list[int]:
    """Rows "running" with no update for the longer of WATCHDOG_STALE_AFTER and the app's own
    claim threshold, plus (when asked) rows "queued" with no update for WATCHDOG_STALE_AFTER."""
    running = Q(status="running", updated_at__lt=_cutoff(now, running_after_seconds))
    queued = Q(status="queued", updated_at__lt=_cutoff(now)) if include_queued else Q(pk__in=[])
    return list(model.objects.filter(running | queued).values_list("pk", flat=True))


def _requeue(model, pk, enqueue: Callable[[int], None], **values) -> bool:
    """Put a running or queued row back to "queued" (conditionally: another pass may have got
    there first) and enqueue its task once the transaction commits."""
    with transaction.atomic():
        if not model.objects.filter(pk=pk, status__in=["running", "queued"]).update(status="queued", **values):
            return False
        enqueue(pk)
    return True


def _on_commit_delay(task_name: str) -> Callable[[int], None]:
    """Enqueue the task named like its module path ("llm.tasks.run_llm_job") after the commit."""
    def enqueue(pk: int) -> None:
        from llm.calls import enqueue_after_commit

        enqueue_after_commit(task_name, pk)
    return enqueue


# --- codegen runs -------------------------------------------------------------------------------

def _codegen_stale(now, include_queued):
    from codegen.models import CodegenRun

    epoch = timezone.make_aware(datetime(2000, 1, 1))
    statuses = [CodegenRun.Status.RUNNING] + ([CodegenRun.Status.QUEUED] if include_queued else [])
    cutoff = _cutoff(now)
    # Progress is the latest of: the run row touched, a step claimed or heartbeating, a step finished.
    return list(
        CodegenRun.objects.filter(status__in=statuses)
        .annotate(progress=Greatest(
            F("updated_at"),
            Coalesce(Max("steps__started_at"), epoch, output_field=DateTimeField()),
            Coalesce(Max("steps__finished_at"), epoch, output_field=DateTimeField()),
        ))
        .filter(progress__lt=cutoff)
        .values_list("pk", flat=True)
    )


def _codegen_resume(pk, now):
    from codegen.models import CodegenRun, CodegenStep
    from codegen.tasks import enqueue

    with transaction.atomic():
        # The dead worker's step becomes claimable at once (not after CODEGEN_STEP_STALE_SECONDS).
        CodegenStep.objects.filter(run_id=pk, status=CodegenStep.Status.RUNNING, started_at__lt=_cutoff(now)).update(
            status=CodegenStep.Status.PENDING)
        return _requeue(CodegenRun, pk, enqueue, updated_at=now)


def _codegen_fail(pk, reason):
    from codegen.models import CodegenRun, CodegenStep

    with transaction.atomic():
        run = CodegenRun.objects.get(pk=pk)
        stuck = list(run.steps.filter(status=CodegenStep.Status.RUNNING).values_list("key", flat=True))
        run.steps.filter(status=CodegenStep.Status.RUNNING).update(
            status=CodegenStep.Status.FAILED, error=reason, finished_at=timezone.now())
        run.steps.filter(status=CodegenStep.Status.PENDING).update(status=CodegenStep.Status.SKIPPED)
        CodegenRun.objects.filter(pk=pk).update(
            status=CodegenRun.Status.FAILED, error=reason, failing_step=", ".join(stuck)[:100], updated_at=timezone.now())
        run.append_log(f"{timezone.now():%Y-%m-%d %H:%M:%S} - ERROR - {reason}")


# --- llm prompt jobs and image jobs -------------------------------------------------------------

def _llm_stale(model, progress_fields):
    def stale(now, include_queued):
        running_cutoff = _cutoff(now, settings.LLM_JOB_STALE_AFTER)  # claim() takes it over only then
        first, *others = progress_fields
        # Coalesce: SQLite's GREATEST (MAX) is NULL when any argument is (a job never claimed).
        progress = Greatest(F(first), *(Coalesce(other, first) for other in others)) if others else F(first)
        running = Q(status="running") & (Q(claimed_at__lt=running_cutoff) | Q(claimed_at__isnull=True))
        queued = Q(status="queued", progress__lt=_cutoff(now)) if include_queued else Q(pk__in=[])
        return list(model.objects.annotate(progress=progress).filter(running | queued).values_list("pk", flat=True))
    return stale


def _llm_resume(model, task_name):
    def resume(pk, now):
        return _requeue(model, pk, _on_commit_delay(task_name), claimed_at=now)
    return resume


def _llm_fail(model):
    has_finished_at = any(f.name == "finished_at" for f in model._meta.fields)

    def fail(pk, reason):
        values = {"status": "failed", "error": reason}
        if has_finished_at:
            values["finished_at"] = timezone.now()
        model.objects.filter(pk=pk, status__in=["running", "queued"]).update(**values)
    return fail


# --- bulk product generation --------------------------------------------------------------------

def _bulk_stale(now, include_queued):
    from products import bulk
    from products.models import BulkGenerationItem

    return _stale_by_updated_at(BulkGenerationItem, bulk.STALE_AFTER.total_seconds(), now, include_queued)


def _bulk_resume(pk, now):
    from products.models import BulkGenerationItem

    return _requeue(BulkGenerationItem, pk, _on_commit_delay("products.tasks.run_bulk_item"), updated_at=now)


def _bulk_fail(pk, reason):
    from products.models import BulkGenerationItem

    item = BulkGenerationItem.objects.select_related("job").get(pk=pk)
    if BulkGenerationItem.objects.filter(pk=pk, status__in=["running", "queued"]).update(
            status=BulkGenerationItem.Status.FAILED, error=reason, updated_at=timezone.now()):
        item.job.refresh_counts()


# --- artifacts ----------------------------------------------------------------------------------

def _artifact_stale(now, include_queued):
    from artifacts import pipeline
    from artifacts.models import NoteArtifact

    return _stale_by_updated_at(NoteArtifact, pipeline.STALE_RUNNING_AFTER.total_seconds(), now, include_queued)


def _artifact_resume(pk, now):
    from artifacts.models import NoteArtifact
    from artifacts.tasks import enqueue_generation

    return _requeue(NoteArtifact, pk, enqueue_generation, updated_at=now)


def _artifact_fail(pk, reason):
    from artifacts.models import NoteArtifact

    NoteArtifact.objects.filter(pk=pk, status__in=["running", "queued"]).update(
        status=NoteArtifact.Status.FAILED, error=reason, finished_at=timezone.now(), updated_at=timezone.now())


def sources() -> list[Source]:
    from llm.models import GeneratedImage, LLMJob

    return [
        Source("codegen.run", "codegen.tasks.run_codegen", _codegen_stale, _codegen_resume, _codegen_fail),
        Source("llm.job", "llm.tasks.run_llm_job", _llm_stale(LLMJob, ["updated_at", "claimed_at"]),
               _llm_resume(LLMJob, "llm.tasks.run_llm_job"), _llm_fail(LLMJob)),
        Source("llm.image", "llm.tasks.run_image_job", _llm_stale(GeneratedImage, ["created_at", "claimed_at"]),
               _llm_resume(GeneratedImage, "llm.tasks.run_image_job"), _llm_fail(GeneratedImage)),
        Source("products.bulk_item", "products.tasks.run_bulk_item", _bulk_stale, _bulk_resume, _bulk_fail),
        Source("artifacts.artifact", "artifacts.tasks.generate_artifact", _artifact_stale, _artifact_resume,
               _artifact_fail),
    ]


def give_up_reason(record: WatchdogRecord) -> str:
    minutes = settings.WATCHDOG_STALE_AFTER // 60
    return (f"Stopped by the watchdog: no progress for {minutes} min after it had already been resumed "
            f"{record.resumes} time(s) (WATCHDOG_MAX_RESUMES={settings.WATCHDOG_MAX_RESUMES}). The worker running it "
            "probably died each time (out of memory, killed, hard time limit); see the worker logs.")


def run(now: datetime | None = None) -> Report:
    """One pass over every kind of work. Safe to run concurrently with itself (conditional UPDATEs)."""
    now = now or timezone.now()
    report = Report()
    for source in sources():
        try:
            waiting = waiting_messages(source.task_name)
            for pk in source.stale(now, waiting == 0):
                record, _ = WatchdogRecord.objects.get_or_create(kind=source.kind, object_id=pk)
                if record.resumes >= settings.WATCHDOG_MAX_RESUMES:
                    reason = give_up_reason(record)
                    source.fail(pk, reason)
                    WatchdogRecord.objects.filter(pk=record.pk).update(failed_at=now, reason=reason)
                    report.failed.setdefault(source.kind, []).append(pk)
                    logger.warning("watchdog: %s #%s failed: %s", source.kind, pk, reason)
                elif source.resume(pk, now):
                    WatchdogRecord.objects.filter(pk=record.pk).update(resumes=F("resumes") + 1, last_resumed_at=now)
                    report.resumed.setdefault(source.kind, []).append(pk)
                    logger.warning("watchdog: resumed %s #%s (resume %d of at most %d)", source.kind, pk,
                                   record.resumes + 1, settings.WATCHDOG_MAX_RESUMES)
        except Exception as exc:  # one broken kind must not stop the others from being looked after
            logger.exception("watchdog: %s failed", source.kind)
            report.errors.append(f"{source.kind}: {type(exc).__name__}: {exc}")
    try:
        from segmentation.tasks import resume_stale_runs

        report.segmentation_batches = resume_stale_runs() or 0
    except Exception as exc:
        logger.exception("watchdog: segmentation resume failed")
        report.errors.append(f"segmentation: {type(exc).__name__}: {exc}")
    return report
