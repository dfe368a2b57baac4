"""A worker killed with SIGKILL mid-experiment: another worker finishes it, each case once."""

import os
import signal
import time

import pytest

from conftest import wait_until
from evals import runner, tasks
from evals.models import CaseResult, Experiment
from evals.testing import CatalogModel

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

WORKER_ENV = {"EVALS_CLAIM_LEASE": "2", "EVALS_CONCURRENCY": "2"}


def _done(experiment):
    return CaseResult.objects.filter(variant__experiment=experiment, status="done").count()


def test_an_experiment_survives_a_killed_worker(providers, fake, identify_dataset, celery_workers):
    fake.set_default(CatalogModel("correct", delay=0.15))
    experiment = runner.create_experiment(suite="products.identify_category",
                                          variants=[runner.parse_variant("3:openai:gpt-4o-mini", _suite())])
    first = celery_workers.start("w1", env=WORKER_ENV)
    tasks.run_experiment.delay(experiment.pk)
    wait_until(lambda: _done(experiment) >= 10, procs=[first], what="ten answers from the first worker")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    stranded = CaseResult.objects.filter(variant__experiment=experiment, status="running").count()
    assert 0 < _done(experiment) < 60 and stranded >= 1
    time.sleep(2.5)  # past the claim lease: the dead worker's claims may now be taken
    second = celery_workers.start("w2", env=WORKER_ENV)  # resumes stale experiments when it is ready
    wait_until(lambda: Experiment.objects.get(pk=experiment.pk).status == "done", procs=[second],
               what="the second worker to finish the experiment", timeout=90)
    results = CaseResult.objects.filter(variant__experiment=experiment)
    assert results.count() == 60 and set(results.values_list("status", flat=True)) == {"done"}
    assert set(results.values_list("score", flat=True)) == {1.0}
    # The stranded cases were claimed again; the ones the first worker finished were not.
    assert results.filter(attempts__gte=2).count() == stranded
    # Each case was answered by one claim (a cache hit for a re-asked one at most).
    from llm.models import LLMQuery

    assert LLMQuery.objects.filter(run_id=experiment.run_id, status="ok").count() <= 60 + stranded


def _suite():
    from evals import registry

    return registry.get("products.identify_category")
