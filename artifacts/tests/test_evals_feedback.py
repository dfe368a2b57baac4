"""Rating an artifact (a human score of the call that wrote it) and promoting it, with a hand
edit as the expected answer, into artifacts.faithfulness."""

import pytest
from django.urls import reverse

from artifacts import pipeline
from artifacts.models import NoteArtifact
from evals.models import Case, Score
from llm import complete

pytestmark = pytest.mark.django_db


@pytest.fixture
def generated(owner, note, providers):
    built = pipeline.prompt_for(note, "summary", "", pipeline.resolve_target(owner, "app_key", "openai", "gpt-4o-mini"))
    result = complete(purpose="artifacts.summary", system=built.system, prompt=built.prompt, provider="openai",
                      model="gpt-4o-mini", user=owner)
    return NoteArtifact.objects.create(note=note, owner=owner, artifact_type="summary", status="completed",
                                       content=result.text, system_prompt=built.system, prompt=built.prompt,
                                       provider="openai", model="gpt-4o-mini", query_id=result.query_id)


def test_a_rating_is_a_human_score_of_the_generating_call_even_on_an_edit(owner_client, owner, generated):
    page = owner_client.get(reverse("artifacts:detail", args=[generated.pk])).content.decode()
    assert reverse("artifacts:rate", args=[generated.pk]) in page and 'name="stars"' in page
    assert owner_client.post(reverse("artifacts:rate", args=[generated.pk]), {"stars": "4"}).status_code == 302
    score = Score.objects.get()
    assert (score.query_id, score.value, score.source, score.user) == (generated.query_id, 0.75, "human", owner)
    edited = pipeline.edit(generated, owner, "A better summary.")
    owner_client.post(reverse("artifacts:rate", args=[edited.pk]), {"stars": "5"})
    assert Score.objects.filter(query_id=generated.query_id).count() == 2  # the edit's rating names the same call


def test_a_rating_out_of_range_is_refused_with_a_message(owner_client, generated):
    response = owner_client.post(reverse("artifacts:rate", args=[generated.pk]), {"stars": "9"}, follow=True)
    assert "from 1 to 5" in response.content.decode() and not Score.objects.exists()


def test_promoting_an_edit_makes_the_edit_the_expected_answer(owner_client, owner, generated, note):
    owner_client.post(reverse("artifacts:promote", args=[generated.pk]))
    case = Case.objects.get()
    assert case.dataset.name == "artifacts.faithfulness" and case.expected is None
    assert case.input["prompt"] == generated.prompt and case.input["artifact_type"] == "summary"
    assert note.highlighted_text in case.input["note"] and case.source_query_id == generated.query_id
    edited = pipeline.edit(generated, owner, "Keep a reference to every task you create.")
    owner_client.post(reverse("artifacts:promote", args=[edited.pk]))
    case = Case.objects.get()  # the same case, its expected answer now the person's edit
    assert case.expected == "Keep a reference to every task you create." and case.source == f"artifacts.NoteArtifact:{generated.pk}"


def test_others_artifacts_are_404_for_rating_and_promotion(client, outsider, generated):
    client.force_login(outsider)
    assert client.post(reverse("artifacts:rate", args=[generated.pk]), {"stars": "1"}).status_code == 404
    assert client.post(reverse("artifacts:promote", args=[generated.pk])).status_code == 404
    assert not Score.objects.exists() and not Case.objects.exists()
