from django.dispatch import receiver

from .signals import manual_answer_accepted


@receiver(manual_answer_accepted, dispatch_uid="llm.resume_jobs")
def _resume_prompt_jobs(sender, query, **kwargs):
    from .calls.jobs import resume_jobs_waiting_on

    resume_jobs_waiting_on(query)
