"""Experiments with delivery=batch: each variant's cases in provider batches, scored as usual."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from evals import batch_delivery, runner, summary
from evals.models import CaseResult, Experiment
from evals.testing import CatalogModel
from llm.batch.models import LLMBatch
from llm.models import LLMQuery
from llm.tasks import poll_batches

pytestmark = pytest.mark.django_db

VARIANTS = ["3:openai:gpt-4o-mini", "3:anthropic:claude-haiku-4-5"]


def _experiment(suite, variants=VARIANTS, **kw):
    s = __import__("evals.registry", fromlist=["get"]).get(suite)
    return runner.create_experiment(suite=suite, variants=[runner.parse_variant(v, s) for v in variants],
                                    delivery="batch", **kw)


def test_an_experiment_in_batch_mode_scores_every_case_from_batch_answers(
        providers, fake, identify_dataset, celery_eager, django_capture_on_commit_callbacks):
    fake.set_default(CatalogModel("correct"))
    experiment = _experiment("products.identify_category")
    assert experiment.delivery == "batch"
    with django_capture_on_commit_callbacks(execute=True):
        sent = batch_delivery.batch_pass(experiment.pk)
    cases = identify_dataset.cases.count()
    assert sent == 2 * cases
    for _ in range(10):
        experiment.refresh_from_db()
        if experiment.status == Experiment.Status.DONE:
            break
        with django_capture_on_commit_callbacks(execute=True):
            poll_batches()
    assert experiment.status == Experiment.Status.DONE
    results = CaseResult.objects.filter(variant__experiment=experiment)
    assert results.filter(status="done").count() == 2 * cases and set(results.values_list("score", flat=True)) == {1.0}
    # One provider batch per variant; every answer came from one, at the batch price.
    batches = LLMBatch.objects.for_owner(experiment.batch_owner)
    assert sorted(b.provider_kind for b in batches) == ["anthropic", "openai"]
    paid = LLMQuery.objects.filter(run_id=experiment.run_id).exclude(status="cache_hit")
    assert paid.count() == 2 * cases and set(paid.values_list("delivery", flat=True)) == {"batch"}
    assert not [r for r in fake.requests if not r.path.startswith("/batch/") and "batches" not in r.path
                and "files" not in r.path and ":batchGenerateContent" not in r.path]
    rows = summary.summarize(experiment)
    assert all(r.cost_usd and r.cost_usd > 0 and r.failed == 0 for r in rows)


def test_batch_delivery_needs_the_answer_cache(providers, identify_dataset):
    with pytest.raises(ValueError, match="answer cache"):
        _experiment("products.identify_category", use_cache=False)


def test_the_command_and_the_form_take_delivery(providers, fake, identify_dataset, owner_client, capsys,
                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("eval", "run", "products.identify_category", "--variant", VARIANTS[0], "--delivery", "batch")
    assert "provider batches" in capsys.readouterr().out and len(callbacks) == 1
    assert Experiment.objects.get().delivery == "batch"
    with pytest.raises(CommandError, match="answer cache"):
        call_command("eval", "run", "products.identify_category", "--delivery", "batch", "--no-cache")
    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post(reverse("evals:experiments"), {
            "suite": "products.identify_category", "variants": VARIANTS[0], "use_cache": "on", "delivery": "batch"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Experiment.objects.order_by("-pk").first().delivery == "batch"


def test_the_experiment_page_shows_the_batch_and_cancels_it(providers, fake, identify_dataset, owner, owner_client,
                                                           celery_eager, django_capture_on_commit_callbacks):
    fake.set_default(CatalogModel("correct"))
    fake.set_batch_faults(polls_to_complete=5)
    experiment = _experiment("products.identify_category", variants=VARIANTS[:1], owner=owner)
    with django_capture_on_commit_callbacks(execute=True):
        batch_delivery.batch_pass(experiment.pk)
        poll_batches()
    page = owner_client.get(reverse("evals:experiment", args=[experiment.pk])).content.decode()
    assert "Provider batch" in page and "Cancel the batch" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("evals:experiment-cancel-batch", args=[experiment.pk]))
        for _ in range(3):
            poll_batches()
    assert response.status_code == 302
    results = CaseResult.objects.filter(variant__experiment=experiment)
    assert results.filter(status="failed", error_kind="cancelled").count() == results.count()
    assert not LLMQuery.objects.filter(run_id=experiment.run_id).exclude(delivery="batch").exists()


def test_an_experiment_over_the_budget_fails_its_cases_by_kind(providers, fake, identify_dataset, celery_eager,
                                                               django_capture_on_commit_callbacks):
    from decimal import Decimal

    from llm.models import Budget

    Budget.objects.create(period="day", limit_usd=Decimal("0.00001"))
    fake.set_default(CatalogModel("correct"))
    experiment = _experiment("products.identify_category", variants=VARIANTS[:1])
    with django_capture_on_commit_callbacks(execute=True):
        assert batch_delivery.batch_pass(experiment.pk) == 0
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.DONE
    results = CaseResult.objects.filter(variant__experiment=experiment)
    assert set(results.values_list("status", "error_kind")) == {("failed", "budget_exceeded")}
    assert "Refused before sending" in results.first().error
    assert not LLMBatch.objects.for_owner(experiment.batch_owner).exists() and not fake.requests
