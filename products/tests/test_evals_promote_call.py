"""A logged call of each product suite promoted from its page ("add to an evaluation dataset"):
the case's input is what the suite's run expects, so an experiment over the promoted case
answers it instead of failing on a missing key."""

import pytest
from django.urls import reverse

from evals import runner
from evals.models import Case, CaseResult
from evals.promotion import promote_call
from llm.models import LLMQuery
from products.generation import LLMOptions, identify_category, map_attributes
from products.models import GenerationSession, GenerationStepLog

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = "Lumora Glide smart dimmer, 600 W, Wi-Fi, for LED and halogen bulbs. Model LG-600."


@pytest.fixture
def session(owner_client, smart_fake, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    smart_fake.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9,
                         "reason": "A wall dimmer."}
    owner_client.post(reverse("products:wizard"), {"raw_input": TEXT, "provider": "openai", "model": "gpt-4o-mini"})
    session = GenerationSession.objects.get()
    owner_client.post(reverse("products:wizard-step", args=[session.pk, 2]), {"action": "accept"})  # maps the attributes
    return session


def _query(session, step):
    return GenerationStepLog.objects.filter(session=session, step=step, status="ok").latest("id").query_id


def _run_case(case, suite):
    experiment = runner.create_experiment(suite=suite, dataset=case.dataset, use_cache=False,
                                          variants=[runner.parse_variant("3:openai:gpt-4o-mini" if suite.endswith("category")
                                                                         else "1:openai:gpt-4o-mini", _suite(suite))])
    runner.work(experiment.pk, concurrency=1)
    return CaseResult.objects.get(variant__experiment=experiment)


def _suite(name):
    from evals import registry

    return registry.get(name)


def test_a_category_call_promoted_from_its_page_is_a_case_the_suite_answers(owner_client, session, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    q = _query(session, "identify_category")
    page = owner_client.get(reverse("llm:call", args=[q])).content.decode()
    assert 'name="dataset" value="products.identify_category"' in page  # the suite that takes the call's purpose
    expected = {"category": dimmers.category.name, "subcategory": dimmers.name}
    owner_client.post(reverse("evals:promote-query", args=[q]),
                      {"dataset": "products.identify_category", "expected": '{"category": "%s", "subcategory": "%s"}'
                                                                            % (expected["category"], expected["subcategory"])})
    case = Case.objects.get()
    assert case.input == {"text": TEXT} and case.expected == expected and case.source_query_id == q
    assert case.dataset.suite == "products.identify_category"
    result = _run_case(case, "products.identify_category")
    assert result.status == "done", result.error
    assert result.answer["subcategory"] == dimmers.name and result.score == 1.0


def test_an_attribute_call_promoted_from_its_page_is_a_case_the_suite_answers(owner_client, session, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    q = _query(session, "map_attributes")
    assert LLMQuery.objects.get(pk=q).purpose == "products.map_attributes"
    owner_client.post(reverse("evals:promote-query", args=[q]), {"dataset": "products.map_attributes",
                                                                 "expected": '{"Max load": 600}'})
    case = Case.objects.get()
    assert case.input == {"text": TEXT, "category": dimmers.category.name, "subcategory": dimmers.name}
    result = _run_case(case, "products.map_attributes")
    assert result.status == "done", result.error
    assert result.answer["Max load"] == 600 and result.score == 1.0


def test_calls_made_outside_the_wizard_are_rebuilt_from_their_request(owner, smart_fake, catalog_ready):
    """Bulk generation and the command call the same steps without a wizard session."""
    dimmers = catalog_ready["dimmers"]
    smart_fake.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9,
                         "reason": "A wall dimmer."}
    options = LLMOptions(provider="openai", model="gpt-4o-mini", user=owner)
    chosen = identify_category(TEXT, options)
    mapped = map_attributes(TEXT, dimmers.pk, options)
    identify_case = promote_call(LLMQuery.objects.get(pk=chosen.calls[-1].query_id), user=owner)
    map_case = promote_call(LLMQuery.objects.get(pk=mapped.calls[-1].query_id), user=owner)
    assert not GenerationStepLog.objects.exists()
    assert (identify_case.dataset.name, identify_case.input) == ("products.identify_category", {"text": TEXT})
    assert (map_case.dataset.name, map_case.input) == (
        "products.map_attributes", {"text": TEXT, "category": dimmers.category.name, "subcategory": dimmers.name})
    assert _run_case(identify_case, "products.identify_category").status == "done"
    assert _run_case(map_case, "products.map_attributes").status == "done"
