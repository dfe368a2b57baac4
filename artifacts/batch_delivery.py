"""Artifact batch runs with delivery=batch: every note's call in one provider batch (llm/batch/).

A pass runs each queued artifact through the same ``pipeline.run`` as interactive delivery, in
llm's collect mode: a call the answer cache can't answer is gathered instead of sent. The
gathered calls go out as provider batches; each answer comes back through ``complete()`` (and so
into the answer cache), and the next pass completes the artifacts from there.
"""

from __future__ import annotations

import logging

from django.db import transaction

import llm
from llm import batch as llm_batch
from llm.errors import LLMError

from . import pipeline
from .models import BatchRun, NoteArtifact

logger = logging.getLogger(__name__)

HANDLER = "artifacts.batch"


PASS_TASK = "artifacts.tasks.run_batch_pass"


def send_pass(batch_id: int) -> None:
    """Queue a pass after commit, by task name (the task module imports this module, not the reverse)."""
    llm.enqueue_after_commit(PASS_TASK, batch_id)


def run_pass(batch_id: int) -> int:
    """One pass; returns how many calls went out in provider batches (0: the run is finished)."""
    run = BatchRun.objects.select_related("user").get(pk=batch_id)
    gathered, waiting = [], []
    for artifact_id in run.artifacts.filter(status=NoteArtifact.Status.QUEUED).values_list("pk", flat=True):
        with llm_batch.collecting() as calls:
            try:
                pipeline.run(artifact_id)
            except llm_batch.BatchPending:
                pass
        gathered += calls
        if calls:
            waiting.append(artifact_id)
    if gathered:
        try:
            llm_batch.submit_gathered(owner=run.batch_owner, handler=HANDLER, gathered=gathered, user=run.user)
        except LLMError as exc:  # refused before anything was sent (a budget, a missing key): say so on each
            NoteArtifact.objects.filter(pk__in=waiting, status=NoteArtifact.Status.QUEUED).update(
                status=NoteArtifact.Status.FAILED, error=f"The provider batch was not sent: {exc}"[:5000])
            return 0
    return len(gathered)


def _run_of(owner: str) -> BatchRun | None:
    return BatchRun.objects.filter(pk=int(owner.rsplit(":", 1)[1])).first()


class Handler:
    def on_answer(self, owner, key, completion) -> None:
        pass  # in the answer cache now: the next pass completes the artifact through pipeline.run

    def on_error(self, owner, key, error) -> None:
        run = _run_of(owner)
        if run is None:
            return
        for artifact_id in run.artifacts.filter(status=NoteArtifact.Status.QUEUED).values_list("pk", flat=True):
            with llm_batch.collecting():
                try:
                    pipeline.run(artifact_id)
                    continue
                except llm_batch.BatchPending as pending:
                    if pending.custom_id != key:
                        continue
            if isinstance(error, llm_batch.BatchCancelled):
                artifact = NoteArtifact.objects.get(pk=artifact_id)
                pipeline._fail(artifact, "Cancelled: the provider batch was cancelled before this note's answer.")
            else:
                pipeline.run(artifact_id)  # the interactive path, which records the failure as usual

    def on_finished(self, owner) -> None:
        run = _run_of(owner)
        if run is None:
            return
        if (llm_batch.summary(owner) or {}).get("cancelled"):
            for artifact in run.artifacts.filter(status=NoteArtifact.Status.QUEUED):
                pipeline._fail(artifact, "Cancelled before this note's call was sent.")
            return
        send_pass(run.pk)
