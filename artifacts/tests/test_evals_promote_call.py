"""An artifact's logged call promoted from the call's page into artifacts.faithfulness: the case
is the artifact's request and its note (what the suite's run and judge read), so an experiment
over it answers and grades it."""

import pytest
from django.urls import reverse

from artifacts import pipeline
from artifacts.models import NoteArtifact
from evals import runner
from evals.models import Case, CaseResult
from evals.promotion import promote_call
from llm.models import LLMQuery

from .test_evals_suite import NoteModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _openai_by_default(settings):
    # The app-key mode and the judge on OpenAI: NoteModel reads OpenAI's request shapes.
    settings.ARTIFACTS_DEFAULT_PROVIDER, settings.ARTIFACTS_DEFAULT_MODEL = "openai", "gpt-4o-mini"
    settings.LLM_DEFAULT_PROVIDER, settings.LLM_DEFAULT_MODEL = "openai", "gpt-4o-mini"


@pytest.mark.parametrize("artifact_type", ["summary", "flashcards"])
def test_an_artifacts_call_promoted_from_its_page_is_a_case_the_suite_answers(owner_client, owner, note, fake,
                                                                               providers, artifact_type):
    fake.set_default(NoteModel(faithful=True))
    artifact = pipeline.create_artifact(note, owner, artifact_type, provider="openai", model="gpt-4o-mini")
    artifact = pipeline.run(artifact.pk)
    assert artifact.status == "completed" and artifact.query_id, artifact.error
    q = artifact.query_id
    page = owner_client.get(reverse("llm:call", args=[q])).content.decode()
    assert 'name="dataset" value="artifacts.faithfulness"' in page  # the suite that takes artifacts.<type> calls
    owner_client.post(reverse("evals:promote-query", args=[q]), {"dataset": "artifacts.faithfulness", "expected": ""})
    case = Case.objects.get()
    assert case.dataset.suite == "artifacts.faithfulness" and case.source_query_id == q
    assert set(case.input) == {"artifact_type", "system", "prompt", "note"}
    assert (case.input["artifact_type"], case.input["system"], case.input["prompt"]) == (
        artifact_type, artifact.system_prompt, artifact.prompt)
    assert note.highlighted_text in case.input["note"]
    experiment = runner.create_experiment(suite="artifacts.faithfulness", dataset=case.dataset, use_cache=False,
                                          variants=[{"template": "", "template_version": None, "provider": "openai",
                                                     "model": "gpt-4o-mini", "params": {}}])
    runner.work(experiment.pk, concurrency=1)
    result = CaseResult.objects.get(variant__experiment=experiment)
    assert result.status == "done", result.error
    assert result.score == 1.0  # the judge read the note from the case
    assert {s.scorer: s.value for s in result.scores.all()} == {"faithfulness": 1.0, "schema_valid": 1.0}


def test_without_its_artifact_the_call_is_rebuilt_from_its_request_and_context(owner, note, fake, providers):
    fake.set_default(NoteModel(faithful=True))
    artifact = pipeline.run(pipeline.create_artifact(note, owner, "summary", provider="openai", model="gpt-4o-mini").pk)
    q = artifact.query_id
    NoteArtifact.objects.filter(pk=artifact.pk).update(query=None)  # e.g. the artifact was regenerated since
    case = promote_call(LLMQuery.objects.get(pk=q), user=owner)
    assert case.input == {"artifact_type": "summary", "system": artifact.system_prompt, "prompt": artifact.prompt,
                          "note": case.input["note"]} and note.highlighted_text in case.input["note"]


def test_an_image_call_is_not_taken_by_the_suite(owner, providers):
    from evals import registry

    assert registry.for_purpose("artifacts.image") is None
    assert registry.for_purpose("artifacts.quiz").name == "artifacts.faithfulness"
