"""delivery=batch: a run's calls go out in provider batches (llm/batch/), one pass per stage round.

A pass runs the current stage's pending batches through the same code as interactive delivery
(``run_one``), in llm's collect mode: a call answered by the answer cache goes on as usual, a call
that would go to the provider is gathered and its segmentation batch goes back to pending. What a
pass gathered is sent as provider batches; when they are delivered (through ``complete()``, so
validation, files and LLMQuery rows are the interactive ones) the handler's ``on_finished`` sends
the next pass, which finds those answers in the cache and reaches the next call: a re-ask for
missing ids, the next consolidation level, or the next stage. A pass that gathers nothing moves the
run on (``advance``) and goes again, until the run finishes.
"""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.utils import timezone

import llm
from llm import batch as llm_batch
from llm.errors import LLMError

from ..models import SegmentationRun
from .base import Run
from .control import advance, pending_batches, run_one
from .resume import cancel_run

logger = logging.getLogger("segmentation.pipeline")

HANDLER = "segmentation.run"
PASS_TASK = "segmentation.tasks.run_batch_pass"
OWNER_PREFIX = "segmentation.SegmentationRun:"


def send_pass(run_id: str) -> None:
    """Queue a pass after commit, by task name (the task module imports this module, not the reverse)."""
    llm.enqueue_after_commit(PASS_TASK, run_id)


def waiting_on_provider(run: SegmentationRun) -> bool:
    """A batch run whose calls are at the provider: nothing for a worker (or the watchdog) to do."""
    from llm.batch.models import LLMBatch

    return run.delivery == "batch" and LLMBatch.objects.for_owner(run.batch_owner).active().exists()


def waiting_on_provider_batch(run_id: str) -> bool:
    run = Run.objects.filter(pk=run_id).only("pk", "delivery").first()
    return run is not None and waiting_on_provider(run)


def batch_pass(run_id: str) -> int:
    """Run the run on as far as delivered answers take it and send the next calls; returns how many
    calls went to the provider (0: the run has stopped, or is waiting on a batch already sent)."""
    run = Run.objects.filter(pk=run_id).first()
    if run is None or run.status != Run.Status.RUNNING or waiting_on_provider(run):
        return 0
    token = f"batch-pass-{time.monotonic_ns()}"
    while True:
        pending = pending_batches(run_id)
        gathered: list = []
        for batch_id in pending:
            with llm_batch.collecting() as calls:
                run_one(batch_id, token)
            gathered += calls
        if gathered:
            try:
                sent = llm_batch.submit_gathered(owner=run.batch_owner, handler=HANDLER, gathered=gathered,
                                                 user=run.owner)
            except LLMError as exc:  # refused before anything was sent (a budget, a missing key)
                Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
                    status=Run.Status.FAILED, updated_at=timezone.now(),
                    error=f"The provider batch was not sent: {exc} Resume the run to try again."[:5000])
                return 0
            if sent:
                return sum(b.total for b in sent)
            # Everything gathered was asked in a batch already and came back without an answer the
            # code could use (the provider failed it and the interactive ask failed too): the
            # batches run interactively now, so they end the way an interactive run would.
            logger.warning("Segmentation %s: batch requests came back unanswered; finishing interactively", run_id)
            for batch_id in pending_batches(run_id):
                run_one(batch_id, token)
        run.refresh_from_db()
        if run.status != Run.Status.RUNNING:
            return 0
        stage_before = run.stage
        advance(run_id)
        run.refresh_from_db()
        if run.status != Run.Status.RUNNING or (run.stage == stage_before and not pending_batches(run_id)):
            return 0


def _run_of(owner: str) -> SegmentationRun | None:
    if not owner.startswith(OWNER_PREFIX):
        return None
    return Run.objects.filter(pk=owner[len(OWNER_PREFIX):]).first()


class BatchHandler:
    """Answers land in the answer cache through complete(); the next pass picks them up."""

    def on_answer(self, owner, key, completion) -> None:
        pass

    def on_error(self, owner, key, error) -> None:
        # A request that failed in the batch was already asked interactively by llm.batch; what
        # still failed is met again by the next pass (see batch_pass), like an interactive error.
        pass

    def on_finished(self, owner) -> None:
        run = _run_of(owner)
        if run is None or run.status != Run.Status.RUNNING:
            return
        if (llm_batch.summary(owner) or {}).get("cancelled"):
            cancel_run(run)
            return
        send_pass(run.pk)
