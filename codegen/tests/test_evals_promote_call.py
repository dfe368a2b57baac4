"""A codegen step's logged call promoted from the call's page into codegen.parses: a case is a
whole chain, so the case is the run's brief, which the suite's run generates a project from."""

import pytest
from django.urls import reverse

from codegen import pipeline
from codegen.tests.demo import DemoModel
from evals import runner
from evals.models import Case, CaseResult
from llm.models import LLMQuery

pytestmark = pytest.mark.django_db


def test_a_step_call_promoted_from_its_page_is_the_runs_brief_and_the_suite_runs_it(owner_client, owner, providers, fake):
    fake.set_default(DemoModel())
    run = pipeline.execute_run(pipeline.create_run(owner=owner, name="car-management-app", provider="openai",
                                                   description="Manage cars and owners.", model="gpt-4o-mini").pk)
    q = LLMQuery.objects.filter(run_id=run.run_id, purpose__startswith="codegen.step_").order_by("-pk").first()
    assert q is not None and q.user == owner
    page = owner_client.get(reverse("llm:call", args=[q.pk])).content.decode()
    assert 'name="dataset" value="codegen.parses"' in page
    owner_client.post(reverse("evals:promote-query", args=[q.pk]), {"dataset": "codegen.parses"})
    case = Case.objects.get()
    assert case.input == {"name": "car-management-app", "description": "Manage cars and owners.", "stack": run.stack}
    experiment = runner.create_experiment(suite="codegen.parses", dataset=case.dataset, use_cache=False, variants=[
        {"template": "", "template_version": None, "provider": "openai", "model": "gpt-4o-mini", "params": {}}])
    runner.work(experiment.pk, concurrency=1)
    result = CaseResult.objects.get(variant__experiment=experiment)
    assert result.status == "done", result.error
    assert result.score == 1.0 and any(path.endswith(".py") for path in result.answer)
