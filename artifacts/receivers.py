from django.dispatch import receiver

from llm.signals import manual_answer_accepted


@receiver(manual_answer_accepted, dispatch_uid="artifacts.resume_after_paste")
def _resume_artifacts(sender, query, **kwargs):
    from .pipeline import artifacts_waiting_on
    from .tasks import enqueue_generation

    for artifact_id in artifacts_waiting_on(query):
        enqueue_generation(artifact_id)
