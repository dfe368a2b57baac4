"""delivery=batch for experiments: each variant's cases go out as provider batches (llm/batch/).

A pass claims every pending result and runs it through the same ``runner.run_one`` as interactive
delivery, in llm's collect mode: a case whose calls are all in the answer cache is answered and
scored as usual; a case that reaches a call not answered yet has that call gathered and goes
back to pending. The gathered calls are sent, one batch (or more, at the provider's limits) per
variant. When a variant's batches are delivered (through ``complete()``: rows, files, cache) the
handler's ``on_finished`` sends the next pass, which reaches the next call (a judge, a re-ask),
until no case is left.
"""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.db.models import F
from django.utils import timezone

import llm
from llm import batch as llm_batch
from llm.errors import LLMBudgetExceeded, LLMError

from . import runner
from .models import CaseResult, Experiment

logger = logging.getLogger(__name__)

HANDLER = "evals.experiment"
PASS_TASK = "evals.tasks.run_batch_pass"
OWNER_PREFIX = "evals.Experiment:"
CLAIM = 500


def send_pass(experiment_id: int) -> None:
    """Queue a pass after commit, by task name (the task module imports this module, not the reverse)."""
    llm.enqueue_after_commit(PASS_TASK, experiment_id)


def waiting_on_provider(experiment_id: int) -> bool:
    from llm.batch.models import LLMBatch

    return LLMBatch.objects.for_owner(f"{OWNER_PREFIX}{experiment_id}").active().exists()


def batch_pass(experiment_id: int) -> int:
    """Answer what delivered answers allow, send the next calls; returns how many went out (0: the
    experiment is finished, or waits on batches already sent)."""
    experiment = Experiment.objects.filter(pk=experiment_id).first()
    if experiment is None or experiment.status in (Experiment.Status.DONE, Experiment.Status.FAILED):
        return 0
    if waiting_on_provider(experiment_id):
        return 0
    Experiment.objects.filter(pk=experiment_id).exclude(status=Experiment.Status.DONE).update(
        status=Experiment.Status.RUNNING, updated_at=timezone.now())
    worker = f"{runner.worker_name()}:batch-pass-{time.monotonic_ns()}"
    writer = runner.ResultWriter(worker, size=100)
    by_variant: dict[int, list] = {}
    results_of: dict[int, list[int]] = {}
    batched: list[int] = []
    try:
        while True:
            claimed = runner.claim_batch(experiment_id, worker, CLAIM)
            if not claimed:
                break
            for result in runner.load_results(claimed):
                with llm_batch.collecting() as calls:
                    status = runner.run_one(result, worker, writer)
                if status == runner.BATCHED:
                    batched.append(result.pk)
                    by_variant.setdefault(result.variant_id, []).extend(calls)
                    results_of.setdefault(result.variant_id, []).append(result.pk)
        writer.flush()
    finally:
        # Still claimed by this pass (claim_batch would have taken them again): pending once more.
        CaseResult.objects.filter(pk__in=batched, claimed_by=worker, status=CaseResult.Status.RUNNING).update(
            status=CaseResult.Status.PENDING, claimed_by="", attempts=F("attempts") - 1)  # a pass is no attempt
    sent = 0
    refused = False
    for variant_id, calls in by_variant.items():
        try:
            batches = llm_batch.submit_gathered(owner=experiment.batch_owner, handler=HANDLER, gathered=calls,
                                                user=experiment.owner)
        except LLMError as exc:  # refused before anything was sent (a budget, a missing key): the cases fail, by kind
            refused = True
            kind = "budget_exceeded" if isinstance(exc, LLMBudgetExceeded) else type(exc).__name__
            CaseResult.objects.filter(pk__in=results_of[variant_id], status=CaseResult.Status.PENDING).update(
                status=CaseResult.Status.FAILED, error_kind=kind, error=f"The provider batch was not sent: {exc}"[:5000])
            continue
        sent += sum(b.total for b in batches)
    if batched and not sent and not refused:
        # Every call gathered was asked in a batch already and came back without a usable answer
        # (the provider failed it and so did the interactive ask): the cases end interactively,
        # as they would have with delivery=interactive (failed, counted by kind).
        logger.warning("Experiment %s: batch requests came back unanswered; finishing interactively", experiment_id)
        runner.work(experiment_id, concurrency=1)
        return 0
    if not sent:
        runner.finish(experiment_id)
    return sent


class BatchHandler:
    """Answers land in the answer cache through complete(); the next pass scores the cases."""

    def on_answer(self, owner, key, completion) -> None:
        pass

    def on_error(self, owner, key, error) -> None:
        pass  # met again by the next pass (see batch_pass), like an interactive failure

    def on_finished(self, owner) -> None:
        if not owner.startswith(OWNER_PREFIX):
            return
        experiment_id = int(owner[len(OWNER_PREFIX):])
        if (llm_batch.summary(owner) or {}).get("cancelled"):
            CaseResult.objects.filter(variant__experiment_id=experiment_id, status=CaseResult.Status.PENDING).update(
                status=CaseResult.Status.FAILED, error_kind="cancelled", finished_at=timezone.now(),
                error="Cancelled: the provider batch was cancelled.")
            runner.finish(experiment_id)
            return
        send_pass(experiment_id)
