"""The LLM judge (logged under evals.judge), human scores on the producing call, promotion."""

import json

import pytest

from evals import human_score, promote, registry, runner, summary
from evals.judge import judge
from evals.models import Case, ResultQuery, Score
from evals.promotion import PromotionError
from evals.registry import Suite
from evals.testing import CatalogModel
from llm.models import LLMQuery

pytestmark = pytest.mark.django_db(transaction=True)


def _answer(case_input, ctx):
    result = ctx.complete(purpose="tests.echo", prompt=f"Say {case_input}")
    return result.text


@pytest.fixture
def judged_suite():
    registry.register(Suite(name="tests.judged", run=_answer, scorers=[judge("Is the answer the reference?")], judge=True))
    yield registry.get("tests.judged")
    registry.unregister("tests.judged")


def test_the_judge_grades_with_its_own_logged_purpose_and_reports_agreement(providers, fake, judged_suite, owner, settings):
    settings.EVALS_JUDGE_PROVIDER, settings.EVALS_JUDGE_MODEL = "openai", "gpt-4o-mini"
    from llm.testing.fake_provider import Reply

    promote(dataset="tests.judged", input="yes", expected="yes", source="test:1")
    promote(dataset="tests.judged", input="no", expected="maybe", source="test:2")
    model = CatalogModel()
    fake.set_default(lambda req: model(req) if "JudgeVerdict" in str(req.body) else
                     Reply(text="yes" if "Say yes" in str(req.body) else "no"))
    experiment = runner.create_experiment(suite="tests.judged", variants=[{"provider": "openai", "model": "gpt-4o-mini"}])
    runner.work(experiment.pk, concurrency=1)
    [row] = summary.summarize(experiment)
    from evals.models import CaseResult
    assert not any(CaseResult.objects.values_list("error", flat=True)), list(CaseResult.objects.values_list("error", flat=True))
    assert row.score == 0.5  # "yes" matches its reference, "no" does not
    judge_calls = LLMQuery.objects.filter(purpose="evals.judge", run_id=experiment.run_id)
    assert judge_calls.count() == 2 and all(q.cost_usd is not None for q in judge_calls)
    assert ResultQuery.objects.filter(role="judge").count() == 2
    assert row.calls == 2  # the judge's calls are not the variant's
    assert summary.judge_agreement("tests.judged")["agreement"] is None  # no human scores yet: said so
    assert "not checked" in summary.judge_agreement("tests.judged")["message"]

    # People score the same answers (on the call that produced them): one agrees, one not.
    for score in Score.objects.filter(source="judge"):
        human_score(query_id=score.query_id, scorer="rating", value=1.0, user=owner)
    agreement = summary.judge_agreement("tests.judged")
    assert agreement["pairs"] == 2 and agreement["agreement"] == 0.5


def test_promoting_the_same_work_again_updates_its_expected_value(owner):
    case = promote(dataset="products.identify_category", input={"text": "A lamp"}, expected={"subcategory": "Desk"},
                   source="products.GenerationSession:7", user=owner)
    again = promote(dataset="products.identify_category", input={"text": "A lamp"}, expected={"subcategory": "Floor"},
                    source="products.GenerationSession:7", user=owner)
    assert case.pk == again.pk and Case.objects.get().expected == {"subcategory": "Floor"}
    assert "promoted" in again.tags and str(again.dataset) == "products.identify_category v1"
    with pytest.raises(PromotionError, match="no input"):
        promote(dataset="x", input="", source="a:1")


def test_a_human_score_is_one_per_person_and_checked(providers, fake, owner):
    from llm import complete

    q = complete(purpose="tests.echo", prompt="hi", provider="openai", model="gpt-4o-mini").query_id
    human_score(query_id=q, scorer="rating", value=0.25, user=owner, subject="artifacts.Artifact:1")
    human_score(query_id=q, scorer="rating", value=0.75, user=owner, subject="artifacts.Artifact:1")
    assert list(Score.objects.values_list("value", "source")) == [(0.75, "human")]
    with pytest.raises(PromotionError, match="from 0 to 1"):
        human_score(query_id=q, scorer="rating", value=5, user=owner)


def test_promoting_a_logged_call_from_its_page(client, providers, fake, owner):
    from django.urls import reverse

    from llm import complete

    q = complete(purpose="tests.echo", prompt="What is 2+2?", provider="openai", model="gpt-4o-mini", user=owner).query_id
    client.force_login(owner)
    response = client.post(reverse("evals:promote-query", args=[q]), {"expected": '"4"'})
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.dataset.name == "tests.echo" and case.expected == "4" and case.source_query_id == q
    assert "What is 2+2?" in case.input["prompt"]


def test_promoting_a_bad_answer_of_an_experiment_keeps_the_cases_input(client, providers, fake, owner, identify_dataset):
    """A wrong answer seen in an experiment, promoted from its call's page with the right answer:
    the new case's input is the evaluated case's (what the suite's run reads), not the raw request."""
    from django.urls import reverse

    from evals import runner
    from evals.models import CaseResult, ResultQuery
    from evals.testing import CatalogModel

    fake.set_default(CatalogModel("careless"))
    experiment = runner.create_experiment(suite="products.identify_category", owner=owner, use_cache=False)
    runner.work(experiment.pk, concurrency=2)
    wrong = CaseResult.objects.filter(variant__experiment=experiment, score=0.0).select_related("case").first()
    q = ResultQuery.objects.get(result=wrong, role="answer").query_id
    client.force_login(owner)
    client.post(reverse("evals:promote-query", args=[q]), {"dataset": "products.identify_category.hard",
                                                           "expected": json.dumps(wrong.case.expected)})
    case = Case.objects.get(dataset__name="products.identify_category.hard")
    assert case.input == wrong.case.input and case.expected == wrong.case.expected
    assert case.dataset.suite == "products.identify_category"
    fake.set_default(CatalogModel("correct"))
    again = runner.create_experiment(suite="products.identify_category", dataset=case.dataset, use_cache=False)
    runner.work(again.pk, concurrency=1)
    assert list(CaseResult.objects.filter(variant__experiment=again).values_list("status", "score")) == [("done", 1.0)]


def test_a_call_the_named_suite_does_not_take_is_refused_with_a_message(client, providers, fake, owner):
    from django.urls import reverse

    from llm import complete

    q = complete(purpose="tests.echo", prompt="What is 2+2?", provider="openai", model="gpt-4o-mini", user=owner).query_id
    client.force_login(owner)
    response = client.post(reverse("evals:promote-query", args=[q]), {"dataset": "products.identify_category"}, follow=True)
    assert "A tests.echo call cannot be a case of products.identify_category" in response.content.decode()
    assert not Case.objects.exists()
