"""Thin Celery tasks: primary keys in, the pipeline does the work. Enqueue with the helpers
below, which wait for the transaction to commit."""

from celery import group, shared_task
from django.db import OperationalError, transaction


# Time limits: the queue's (CELERY_QUEUE_TIME_LIMITS), except the webhook's own short ones.
@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,), retry_backoff=5, retry_backoff_max=60, max_retries=3,
)
def generate_artifact(artifact_id: int) -> None:
    from . import pipeline, webhooks

    artifact = pipeline.run(artifact_id)
    if artifact is not None and artifact.status == artifact.Status.COMPLETED:
        pipeline.make_image(artifact.pk)  # image artifacts only; a no-op for the other types
        enqueue_webhooks(webhooks.create_deliveries(artifact))


@shared_task(acks_late=True)
def make_artifact_image(artifact_id: int) -> None:
    """The picture for a hand-written image prompt (an edit of an image artifact)."""
    from . import pipeline, webhooks

    pipeline.make_image(artifact_id)
    enqueue_webhooks(webhooks.create_deliveries(pipeline.NoteArtifact.objects.get(pk=artifact_id)))


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def deliver_webhook(delivery_id: int) -> str:
    from .webhooks import deliver, next_attempt_delay

    outcome = deliver(delivery_id)
    if outcome == "retry":
        # The attempt count lives on the delivery row, so the next attempt is a new message with
        # a countdown (10 s, 20 s, 40 s … capped at 10 minutes); deliver() gives up after the last.
        deliver_webhook.apply_async((delivery_id,), countdown=next_attempt_delay(delivery_id))
    return outcome


def enqueue_generation(artifact_id: int) -> None:
    transaction.on_commit(lambda: generate_artifact.delay(artifact_id))


def enqueue_image(artifact_id: int) -> None:
    transaction.on_commit(lambda: make_artifact_image.delay(artifact_id))


def enqueue_batch(artifact_ids: list[int]) -> None:
    from .models import BatchRun

    run = BatchRun.objects.filter(artifacts__pk__in=artifact_ids[:1], delivery="batch").first()
    if run is not None:  # delivery=batch: one pass gathers every note's call into provider batches
        transaction.on_commit(lambda: run_batch_pass.delay(run.pk))
        return
    if artifact_ids:
        transaction.on_commit(lambda: group(generate_artifact.s(pk) for pk in artifact_ids).apply_async())


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def run_batch_pass(batch_id: int) -> int:
    from .batch_delivery import run_pass

    return run_pass(batch_id)


def enqueue_webhooks(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        transaction.on_commit(lambda delivery_id=delivery_id: deliver_webhook.delay(delivery_id))
