from django.dispatch import receiver

from llm.signals import manual_answer_accepted


@receiver(manual_answer_accepted, dispatch_uid="segmentation.resume_after_paste")
def _resume_run_waiting_on_paste(sender, query, **kwargs):
    """A pasted answer for one of a run's prompts: continue the run (the same request now returns it)."""
    from . import pipeline
    from .models import SegmentationRun
    from .tasks import enqueue

    run = SegmentationRun.objects.filter(pk=query.run_id, status=SegmentationRun.Status.WAITING_MANUAL).first()
    if run is not None:
        enqueue(pipeline.resume_run(run))
