from django.dispatch import receiver

from llm.signals import manual_answer_accepted


@receiver(manual_answer_accepted, dispatch_uid="evals.resume_waiting_cases")
def _resume_waiting_cases(sender, query, **kwargs):
    """A pasted answer came in: its waiting cases run again (llm.complete now returns the paste)."""
    from . import runner, tasks

    for experiment_id in runner.resume_waiting(query.pk):
        tasks.enqueue(experiment_id)
