"""Cancel, resume (by hand, or automatically when a worker stopped beating) and the stale-run watch."""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import conf
from ..models import SegmentationRun
from .base import Batch, Run
from .control import advance, pending_batches

logger = logging.getLogger("segmentation.pipeline")


def cancel_run(run: SegmentationRun) -> bool:
    cancelled = bool(Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(
        status=Run.Status.CANCELLED, error="Cancelled.", finished_at=timezone.now(), updated_at=timezone.now()
    ))
    if cancelled and run.delivery == "batch":
        from llm import batch as llm_batch

        # After the status: the cancelled batches' handler then finds the run stopped.
        llm_batch.cancel(run.batch_owner)
    return cancelled


def resume_run(run: SegmentationRun, *, stale_only: bool = False) -> list[int]:
    """Put the run back to running and return the batch ids to (re)start. Finished batches are kept."""
    if run.status == Run.Status.COMPLETED:
        return []
    Run.objects.filter(pk=run.pk).exclude(status=Run.Status.COMPLETED).update(
        status=Run.Status.RUNNING, error="", finished_at=None, updated_at=timezone.now()
    )
    stuck = Batch.objects.filter(run=run, status__in=[Batch.Status.RUNNING, Batch.Status.FAILED])
    if stale_only:
        stuck = stuck.filter(Q(status=Batch.Status.FAILED) | _stale_q(stale_cutoff()))
    stuck.update(status=Batch.Status.PENDING, claimed_by="")
    return pending_batches(run.pk) or advance(run.pk)


def stale_cutoff():
    return timezone.now() - timedelta(seconds=conf.heartbeat_stale_seconds())


def quiet_cutoff():
    # Longer than a stale heartbeat: a run merely waiting in a busy queue is not pushed again and again.
    return timezone.now() - timedelta(seconds=max(3 * conf.heartbeat_stale_seconds(), 30))


def _stale_q(cutoff) -> Q:
    # Every claim sets heartbeat_at; started_at covers rows claimed before heartbeats existed.
    return Q(status=Batch.Status.RUNNING) & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))


def stale_run_ids() -> list[str]:
    """Running runs that need a push: a batch whose worker stopped beating, or no sign of life at all
    for a stale period (a dead worker's prefetched tasks, a stage that never advanced)."""
    cutoff = stale_cutoff()
    dead = Batch.objects.filter(_stale_q(cutoff), run__status=Run.Status.RUNNING).values_list("run_id", flat=True)
    quiet = Run.objects.filter(status=Run.Status.RUNNING, updated_at__lt=quiet_cutoff()).values_list("pk", flat=True)
    return sorted(set(dead) | set(quiet))


def resume_stale(run_id: str) -> list[int]:
    """Automatic resume of one run (worker restart, beat watchdog); returns the batch ids to enqueue.

    Batches of a dead worker go back to pending (finished ones are kept, and the llm cache
    answers calls that completed), at most SEGMENTATION_MAX_RESUMES times per run; after that
    the run fails with the reason instead of staying "running" for ever. A run with no stale
    batch but no sign of life for a stale period gets its pending batches sent again (a
    duplicate task finds its batch claimed and skips it): quiet means max(3 x stale, 30 s).
    Safe to call concurrently.
    """
    cutoff = stale_cutoff()
    with transaction.atomic():
        run = Run.objects.select_for_update(skip_locked=True).filter(pk=run_id, status=Run.Status.RUNNING).first()
        if run is None:
            return []
        batches = Batch.objects.filter(run=run)
        stale = batches.filter(_stale_q(cutoff))
        labels = [f"{stage} b{index}" for stage, index in stale.values_list("stage", "index")[:5]]
        now = timezone.now()
        if labels:
            limit = conf.max_resumes()
            if run.auto_resumes >= limit:
                reason = (f"Gave up after {run.auto_resumes} automatic resume(s) (SEGMENTATION_MAX_RESUMES={limit}): "
                          f"the worker running {', '.join(labels)} stopped again. Resume the run to try again.")
                stale.update(status=Batch.Status.FAILED, claimed_by="", error="The worker stopped answering.")
                Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED, error=reason, finished_at=now, updated_at=now)
                logger.error("Segmentation %s: %s", run.pk, reason)
                return []
            stale.update(status=Batch.Status.PENDING, claimed_by="")
            Run.objects.filter(pk=run.pk).update(auto_resumes=F("auto_resumes") + 1, updated_at=now)
            logger.warning("Segmentation %s: resuming %s left by a dead worker (automatic resume %s of %s)",
                           run.pk, ", ".join(labels), run.auto_resumes + 1, limit)
        elif run.updated_at >= quiet_cutoff() or batches.filter(
            Q(status=Batch.Status.RUNNING) | Q(finished_at__gte=quiet_cutoff())
        ).exists():
            return []  # alive: someone is working on it
        else:
            Run.objects.filter(pk=run.pk).update(updated_at=now)  # so the next look waits a stale period again
    return pending_batches(run_id) or advance(run_id)


