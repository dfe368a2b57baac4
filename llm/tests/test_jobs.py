"""Background jobs: claimed once, an orphaned job is taken over without paying twice, failures recorded."""

from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from llm.calls.jobs import run_job
from llm.models import LLMJob, LLMQuery
from llm.calls import complete
from llm.tasks import _run

pytestmark = pytest.mark.django_db


def _job(owner, providers, **kw):
    return LLMJob.objects.create(user=owner, provider=providers["openai"], model_name="gpt-4o-mini",
                                 prompt="Summarise the French Revolution in one line.", **kw)


def test_a_job_runs_once_even_if_the_task_is_delivered_twice(providers, fake, owner):
    job = _job(owner, providers)
    assert run_job(job.pk).status == "completed"
    assert run_job(job.pk) is None
    assert len(fake.requests) == 1


def test_a_job_claimed_by_a_live_worker_is_left_alone(providers, fake, owner):
    job = _job(owner, providers, status="running", claimed_at=timezone.now())
    assert run_job(job.pk) is None and not fake.requests


def test_an_orphaned_job_is_taken_over_and_its_finished_call_is_not_paid_twice(providers, fake, owner):
    # The dead worker's call had completed (and was cached) before the worker died.
    complete(purpose="llm.playground", prompt="Summarise the French Revolution in one line.", provider="openai",
             model="gpt-4o-mini", user=owner)
    job = _job(owner, providers, status="running", claimed_at=timezone.now() - timedelta(hours=1))
    job = run_job(job.pk)
    assert job.status == "completed" and len(fake.requests) == 1
    assert LLMQuery.objects.get(pk=job.query_id).status == "cache_hit"
    assert LLMJob.objects.count() == 1


def test_a_job_that_outlives_its_time_limit_is_failed_with_the_reason(providers, owner):
    job = _job(owner, providers, status="running", claimed_at=timezone.now())

    class FakeTask:
        class request:
            retries = 0

    def too_slow(pk):
        raise SoftTimeLimitExceeded()

    _run(FakeTask, LLMJob, job.pk, too_slow)
    job.refresh_from_db()
    assert job.status == "failed" and "time limit" in job.error
