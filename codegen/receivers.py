from django.dispatch import receiver

from llm.signals import manual_answer_accepted


@receiver(manual_answer_accepted, dispatch_uid="codegen.resume_runs")
def resume_run_after_paste(sender, query, **kwargs):
    """A pasted answer for one of a run's prompts: queue the run again; it resumes at the waiting step."""
    from .models import CodegenRun
    from .tasks import enqueue

    if not query.run_id:
        return
    for run_pk in CodegenRun.objects.filter(run_id=query.run_id, status=CodegenRun.Status.WAITING_MANUAL).values_list(
        "pk", flat=True
    ):
        if CodegenRun.objects.filter(pk=run_pk, status=CodegenRun.Status.WAITING_MANUAL).update(
            status=CodegenRun.Status.QUEUED
        ):
            enqueue(run_pk)
