"""Artifacts generated on a worker, streamed to the note page (llm/calls/live.py carries the chunks).

The worker relays ``llm.stream`` to the channel ``artifact:<pk>``; the Stop button asks for a
stop, the relay cancels the stream (the provider request is closed, the row is ``cancelled``)
and the artifact is ``cancelled`` with no content: nothing half-written is ever stored.
"""

from django.utils import timezone

from llm.calls import live
from llm.calls.streaming import stream

from .models import NoteArtifact


def key(artifact_id: int) -> str:
    return f"artifact:{artifact_id}"


def enabled() -> bool:
    return live.enabled()


def relay_artifact(artifact: NoteArtifact, arguments: dict):
    live.clear(key(artifact.pk))
    return live.relay(stream(**arguments), key(artifact.pk))


def stop_was_requested(artifact: NoteArtifact) -> bool:
    return live.stop_requested(key(artifact.pk))


def finished(artifact: NoteArtifact) -> None:
    live.Publisher(key(artifact.pk)).send("done")


def cancelled(artifact: NoteArtifact, query_id: int | None) -> NoteArtifact:
    from llm.models import LLMQuery

    artifact.status = NoteArtifact.Status.CANCELLED
    artifact.content = ""
    artifact.structured_content = None
    artifact.error = "Stopped before the answer was finished; nothing was kept."
    artifact.finished_at = timezone.now()
    if query_id and LLMQuery.objects.filter(pk=query_id).exists():
        artifact.query_id = query_id
    artifact.save(update_fields=["status", "content", "structured_content", "error", "finished_at", "query", "updated_at"])
    live.Publisher(key(artifact.pk)).send("done")
    return artifact


def stop(artifact: NoteArtifact) -> bool:
    """Stop a generation: queued (or waiting for the browser / a paste) at once, running at the next chunk."""
    waiting = [NoteArtifact.Status.QUEUED, NoteArtifact.Status.WAITING_MANUAL]
    if NoteArtifact.objects.filter(pk=artifact.pk, status__in=waiting).update(
            status=NoteArtifact.Status.CANCELLED, error="Stopped before it was generated.", finished_at=timezone.now()):
        return True
    if artifact.status == NoteArtifact.Status.RUNNING:
        live.request_stop(key(artifact.pk))
        return True
    return False
