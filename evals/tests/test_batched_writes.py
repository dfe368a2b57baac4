"""Claims of several cases per UPDATE and finished results written together (bench: per-case
overhead), without giving up the rule that a result taken over by another worker is theirs."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evals import promote, registry, runner
from evals.models import CaseResult, ResultQuery, Score
from evals.registry import Suite
from evals.scorers import Scorer, exact_match

pytestmark = pytest.mark.django_db


def _answer(case_input, ctx):
    return ctx.complete(purpose="tests.echo", prompt=f"Say {case_input}").text


@pytest.fixture
def experiment(providers, fake):
    registry.register(Suite(name="tests.batched", run=_answer, scorers=[Scorer("exact", exact_match)]))
    for n in range(10):
        promote(dataset="tests.batched", input=f"w{n}", expected="ok", source=f"test:{n}")
    fake.set_default(lambda req: __import__("llm.testing.fake_provider", fromlist=["Reply"]).Reply(text="ok"))
    yield runner.create_experiment(suite="tests.batched", variants=[{"provider": "openai", "model": "gpt-4o-mini"}])
    registry.unregister("tests.batched")


def test_two_workers_claim_disjoint_batches_of_the_size_asked(experiment):
    a = runner.claim_batch(experiment.pk, "worker-a", 4)
    b = runner.claim_batch(experiment.pk, "worker-b", 4)
    c = runner.claim_batch(experiment.pk, "worker-c", 4)
    assert len(a) == 4 and len(b) == 4 and len(c) == 2 and not set(a) & set(b) | set(a) & set(c) | set(b) & set(c)
    assert runner.claim_batch(experiment.pk, "worker-d", 4) == []
    assert set(CaseResult.objects.filter(pk__in=a).values_list("claimed_by", flat=True)) == {"worker-a"}


def test_a_batch_of_results_is_written_in_a_few_statements_and_skips_taken_over_claims(experiment):
    claimed = runner.claim_batch(experiment.pk, "worker-a", 8)
    results = runner.load_results(claimed)
    lost = claimed[0]
    writer = runner.ResultWriter("worker-a", size=100, seconds=3600)
    for result in results:
        runner.run_one(result, "worker-a", writer)
    assert CaseResult.objects.filter(pk__in=claimed, status="running").count() == 8  # nothing written yet
    # Meanwhile the lease of one result ran out and another worker took it.
    CaseResult.objects.filter(pk=lost).update(claimed_by="worker-b")
    with CaptureQueriesContext(connection) as queries:
        assert writer.flush() == 7
    assert len(queries) <= 8  # one read of the calls, then update/delete/insert/delete/insert in one transaction
    done = CaseResult.objects.filter(pk__in=claimed, status="done")
    assert done.count() == 7 and set(done.values_list("score", flat=True)) == {1.0}
    assert all(r.calls == 1 and r.cost_usd is not None for r in done)
    assert ResultQuery.objects.filter(result_id__in=claimed).count() == 7
    assert not Score.objects.filter(result_id=lost).exists() and not ResultQuery.objects.filter(result_id=lost).exists()
    assert CaseResult.objects.get(pk=lost).status == "running"  # worker-b's to finish


def test_work_finishes_every_case_once_with_batched_claims_and_writes(experiment, settings):
    settings.EVALS_CLAIM_BATCH, settings.EVALS_WRITE_BATCH = 4, 3
    runner.work(experiment.pk, concurrency=1)
    assert CaseResult.objects.filter(variant__experiment=experiment, status="done").count() == 10
    assert CaseResult.objects.filter(variant__experiment=experiment, attempts=1).count() == 10
    assert Score.objects.filter(result__variant__experiment=experiment).count() == 10
