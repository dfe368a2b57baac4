"""The wizard's suggestions judged by the person (accepted or edited, stored as human scores of
the calls that made them) and a session promoted into the product suites' datasets."""

import pytest
from django.urls import reverse

from evals.models import Case, Score
from products import feedback
from products.models import GenerationSession, GenerationStepLog

pytestmark = pytest.mark.django_db

TEXT = "Lumora Glide smart dimmer, 600 W, Wi-Fi, for LED and halogen bulbs. Model LG-600."


def step(session, n):
    return reverse("products:wizard-step", args=[session.pk, n])


@pytest.fixture
def started(owner_client, smart_fake, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    smart_fake.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9,
                         "reason": "A wall dimmer."}
    owner_client.post(reverse("products:wizard"), {"raw_input": TEXT, "provider": "openai", "model": "gpt-4o-mini"})
    return GenerationSession.objects.get()


def _fields(session):
    from products import catalog, pipeline

    session.refresh_from_db()
    rows = {r.name: r.value for r in pipeline.attribute_rows(session)}
    return {d: rows[d.name] for d in catalog.definitions(session.subcategory_id)}


def _query(session, step_name):
    return GenerationStepLog.objects.filter(session=session, step=step_name, status="ok").latest("id").query_id


def test_accepting_the_suggested_category_scores_its_call_1(owner_client, owner, started):
    owner_client.post(step(started, 2), {"action": "accept"})
    score = Score.objects.get(scorer=feedback.CATEGORY_SCORER)
    assert (score.query_id, score.value, score.source, score.user) == (_query(started, "identify_category"), 1.0, "human", owner)


def test_choosing_another_category_scores_the_suggestion_0(owner_client, started, catalog_ready):
    owner_client.post(step(started, 2), {"action": "choose", "subcategory": catalog_ready["knives"].pk})
    score = Score.objects.get(scorer=feedback.CATEGORY_SCORER)
    assert score.value == 0.0 and score.details["chosen"] == catalog_ready["knives"].pk


def test_each_attribute_suggestion_is_scored_kept_or_edited(owner_client, started):
    owner_client.post(step(started, 2), {"action": "accept"})
    values = _fields(started)
    edited = next(d for d, v in values.items() if v not in (None, "", []))
    fields = {"attr_%d" % d.pk: v for d, v in values.items()}
    fields["attr_%d" % edited.pk] = "700" if edited.name == "Max load" else "Edited"
    owner_client.post(step(started, 3), {**fields, "action": "save"})
    scores = {s.subject.rsplit(":", 1)[-1]: s for s in Score.objects.filter(scorer=feedback.ATTRIBUTE_SCORER)}
    assert scores[edited.name].value == 0.0 and "edited_to" in scores[edited.name].details
    kept = [s for name, s in scores.items() if name != edited.name]
    assert kept and all(s.value == 1.0 for s in kept)
    assert {s.query_id for s in scores.values()} == {_query(started, "map_attributes")}


def test_promoting_a_session_uses_the_persons_choices_as_expected(owner_client, started, catalog_ready):
    owner_client.post(step(started, 2), {"action": "accept"})
    fields = {"attr_%d" % d.pk: v for d, v in _fields(started).items()}
    max_load = next(d for d in _fields(started) if d.name == "Max load")
    fields["attr_%d" % max_load.pk] = "700"
    owner_client.post(step(started, 3), {**fields, "action": "save"})
    page = owner_client.get(step(started, 3)).content.decode()
    assert reverse("products:wizard-promote", args=[started.pk]) in page
    owner_client.post(reverse("products:wizard-promote", args=[started.pk]))
    category = Case.objects.get(dataset__name="products.identify_category")
    dimmers = catalog_ready["dimmers"]
    assert category.input == {"text": TEXT}
    assert category.expected == {"category": dimmers.category.name, "subcategory": dimmers.name}
    assert category.source_query_id == _query(started, "identify_category")
    attributes = Case.objects.get(dataset__name="products.map_attributes")
    assert attributes.expected["Max load"] == 700 and attributes.input["subcategory"] == dimmers.name


def test_promoting_before_a_category_is_chosen_says_what_to_do(owner_client, started):
    response = owner_client.post(reverse("products:wizard-promote", args=[started.pk]), follow=True)
    assert "Choose the product" in response.content.decode() and not Case.objects.exists()


def test_others_sessions_are_404_for_promotion(client, outsider, started):
    client.force_login(outsider)
    assert client.post(reverse("products:wizard-promote", args=[started.pk])).status_code == 404
