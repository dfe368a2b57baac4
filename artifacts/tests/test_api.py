"""The JSON API: preview, generate (three modes), paste, get; owners only."""

import json
from decimal import Decimal

import pytest

from artifacts.models import NoteArtifact, OtherArtifactRequest, UserApiKey
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

from .conftest import FLASHCARDS, QUIZ

pytestmark = pytest.mark.django_db


def post(client, url, data):
    return client.post(url, data=json.dumps(data), content_type="application/json")


def test_preview_returns_prompt_tokens_and_cost_without_calling_a_model(owner_client, note, providers, fake):
    response = post(owner_client, f"/api/artifacts/preview/note/{note.pk}", {"artifact_type": "summary"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["provider"] == "gemini" and data["model"] == "gemini-2.0-flash"
    assert "Save a reference to the result of this function." in data["prompt"]
    assert "Wrap the coro into a Task." in data["prompt"] and "evil()" not in data["prompt"]
    assert data["input_tokens"] > 50
    # gemini-2.0-flash: $0.10 in / $0.40 out per 1M; worst case = every allowed output token.
    expected_max = (Decimal(data["input_tokens"]) * Decimal("0.10") + Decimal(data["max_output_tokens"]) * Decimal("0.40")) / 1_000_000
    assert Decimal(data["max_cost_usd"]) == expected_max.quantize(Decimal("0.00000001"))
    assert Decimal(data["estimated_cost_usd"]) < Decimal(data["max_cost_usd"])
    assert data["truncation"]["cut"] == [] and data["problem"] == ""
    assert fake.requests == [] and LLMQuery.objects.count() == 0 and NoteArtifact.objects.count() == 0


def test_generate_with_the_app_key_runs_the_job_and_returns_the_cost(owner_client, note, providers, fake, celery_eager, run_on_commit):
    fake.script(Reply(text="**Tasks** need a reference.", usage={"input_tokens": 1000, "output_tokens": 500}), route="gemini")
    with run_on_commit():
        response = post(owner_client, f"/api/artifacts/generate/note/{note.pk}", {"artifact_type": "summary"})
    assert response.status_code == 202, response.content
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "completed" and artifact.content == "**Tasks** need a reference."
    assert artifact.provider == "gemini" and artifact.generation_mode == "app_key"
    assert artifact.cost_usd == Decimal("0.00030000")  # 1000 x 0.10 + 500 x 0.40 per 1M
    got = owner_client.get(f"/api/artifacts/{artifact.pk}").json()
    assert got["status"] == "completed" and Decimal(got["cost_usd"]) == Decimal("0.0003")
    assert got["query_id"] == LLMQuery.objects.get().pk
    assert fake.requests[0].route == "gemini"


def test_the_default_model_is_configurable(owner_client, note, providers, fake, settings):
    settings.ARTIFACTS_DEFAULT_PROVIDER = "openai"
    settings.ARTIFACTS_DEFAULT_MODEL = "gpt-4o-mini"
    data = post(owner_client, f"/api/artifacts/preview/note/{note.pk}", {"artifact_type": "summary"}).json()
    assert (data["provider"], data["model"]) == ("openai", "gpt-4o-mini")


def test_flashcards_are_structured(owner_client, note, providers, fake, celery_eager, run_on_commit):
    fake.script(Reply(json=FLASHCARDS), route="gemini")
    with run_on_commit():
        post(owner_client, f"/api/artifacts/generate/note/{note.pk}", {"artifact_type": "flashcards"})
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "completed"
    assert artifact.structured_content == FLASHCARDS
    assert fake.requests[0].body["generationConfig"].get("responseJsonSchema") or fake.requests[0].body["generationConfig"].get("response_json_schema")


def test_a_quiz_whose_answer_is_not_a_choice_fails_with_a_reason(owner_client, note, providers, fake, celery_eager, run_on_commit):
    bad = {"questions": [{**QUIZ["questions"][0], "answer_index": 5}]}
    fake.script(Reply(json=bad), route="gemini")
    with run_on_commit():
        post(owner_client, f"/api/artifacts/generate/note/{note.pk}", {"artifact_type": "quiz"})
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "failed" and "answer_index 5" in artifact.error


def test_a_provider_failure_is_reported_on_the_artifact(owner_client, note, providers, fake, celery_eager, run_on_commit):
    fake.set_default(Reply(status=400, error_message="bad request from fake"))
    with run_on_commit():
        post(owner_client, f"/api/artifacts/generate/note/{note.pk}", {"artifact_type": "summary"})
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "failed" and "bad request from fake" in artifact.error


def test_other_type_needs_a_description_and_is_recorded_as_a_request(owner_client, note, providers, fake, celery_eager, run_on_commit):
    assert post(owner_client, f"/api/artifacts/generate/note/{note.pk}", {"artifact_type": "other"}).status_code == 400
    fake.script(Reply(text="A haiku."), route="gemini")
    with run_on_commit():
        response = post(owner_client, f"/api/artifacts/generate/note/{note.pk}",
                        {"artifact_type": "other", "user_description": "a haiku about tasks"})
    assert response.status_code == 202
    request = OtherArtifactRequest.objects.get()
    assert request.description == "a haiku about tasks" and request.note == note
    assert "a haiku about tasks" in NoteArtifact.objects.get().prompt


def test_copy_paste_waits_then_the_pasted_answer_completes_it(owner_client, owner, note, providers, fake, celery_eager, run_on_commit):
    with run_on_commit():
        response = post(owner_client, f"/api/artifacts/generate/note/{note.pk}",
                        {"artifact_type": "summary", "generation_mode": "copy_paste"})
    assert response.json()["status"] == "queued"  # the job runs after the commit
    data = owner_client.get(f"/api/artifacts/{response.json()['id']}").json()
    assert data["status"] == "waiting_manual"
    assert "Save a reference to the result of this function." in data["manual_prompt"]
    assert fake.requests == []
    with run_on_commit():
        response = post(owner_client, "/api/artifacts/paste",
                        {"artifact_id": data["id"], "answer": "Keep task references.", "model_name": "Claude in the browser"})
    assert response.status_code == 200, response.content
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "completed" and artifact.content == "Keep task references."
    assert artifact.model == "Claude in the browser" and artifact.cost_usd == 0
    query = LLMQuery.objects.get(pk=artifact.query_id)
    assert query.manual.answered_by == owner  # attribution


def test_a_pasted_answer_that_does_not_fit_is_refused_and_returned(owner_client, note, providers, celery_eager, run_on_commit):
    with run_on_commit():
        created = post(owner_client, f"/api/artifacts/generate/note/{note.pk}",
                       {"artifact_type": "flashcards", "generation_mode": "copy_paste"}).json()
    data = owner_client.get(f"/api/artifacts/{created['id']}").json()
    assert "JSON schema" in data["manual_prompt"]
    response = post(owner_client, "/api/artifacts/paste", {"artifact_id": data["id"], "answer": '{"cards": "nope"}'})
    assert response.status_code == 400
    assert response.json()["answer"] == '{"cards": "nope"}' and "cards" in response.json()["detail"]
    assert NoteArtifact.objects.get().status == "waiting_manual"
    with run_on_commit():
        ok = post(owner_client, "/api/artifacts/paste", {"artifact_id": data["id"], "answer": json.dumps(FLASHCARDS)})
    assert ok.status_code == 200 and NoteArtifact.objects.get().structured_content == FLASHCARDS


def test_user_key_mode_sends_the_users_key_and_counts_its_usage(owner_client, owner, note, providers, fake, celery_eager, run_on_commit):
    saved = post(owner_client, "/api/artifacts/keys", {"provider": "openai", "api_key": "sk-user-own-key-9876"})
    assert saved.status_code == 201 and saved.json()["masked"] == "••••9876"
    fake.script(Reply(text="Summary.", usage={"input_tokens": 2000, "output_tokens": 100}), route="openai")
    with run_on_commit():
        response = post(owner_client, f"/api/artifacts/generate/note/{note.pk}",
                        {"artifact_type": "summary", "generation_mode": "user_key", "provider": "openai"})
    assert response.status_code == 202
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "completed" and artifact.provider == "openai" and artifact.model == "gpt-4o-mini"
    assert fake.requests[0].headers["authorization"] == "Bearer sk-user-own-key-9876"
    key = UserApiKey.objects.get()
    assert key.calls == 1 and key.input_tokens == 2000 and key.output_tokens == 100
    assert key.cost_usd == Decimal("0.00036")  # 2000 x 0.15 + 100 x 0.60 per 1M


def test_user_key_mode_without_a_key_says_what_to_do(owner_client, note, providers):
    response = post(owner_client, f"/api/artifacts/preview/note/{note.pk}", {"artifact_type": "summary", "generation_mode": "user_key"})
    assert response.status_code == 400 and "API key" in response.json()["detail"]


def test_regenerate_and_edit_make_new_versions(owner_client, note, providers, fake, celery_eager, run_on_commit):
    fake.set_default(lambda req: Reply(text=f"Answer {len(fake.requests)}"))
    with run_on_commit():
        first = post(owner_client, f"/api/artifacts/generate/note/{note.pk}", {"artifact_type": "summary"}).json()
    with run_on_commit():
        second = post(owner_client, f"/api/artifacts/{first['id']}/regenerate", {}).json()
    assert second["version"] == 2 and second["parent_id"] == first["id"]
    assert NoteArtifact.objects.get(pk=second["id"]).status == "completed"
    # The regeneration asks for a fresh take, so a cache of v1 cannot answer it.
    assert NoteArtifact.objects.get(pk=first["id"]).prompt != NoteArtifact.objects.get(pk=second["id"]).prompt
    edited = post(owner_client, f"/api/artifacts/{first['id']}/edit", {"content": "My own words."})
    assert edited.status_code == 201 and edited.json()["version"] == 3 and edited.json()["origin"] == "edited"
    versions = owner_client.get(f"/api/artifacts/{first['id']}/versions").json()
    assert [v["version"] for v in versions] == [1, 2, 3]


def test_an_outsider_gets_404_everywhere(client, outsider, owner, note, providers, fake, celery_eager, run_on_commit):
    with run_on_commit():
        artifact = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="summary", status="completed", content="x")
    key = UserApiKey(user=owner, provider="openai")
    key.set_key("sk-owner-secret-1234")
    key.save()
    client.force_login(outsider)
    body = {"artifact_type": "summary"}
    assert post(client, f"/api/artifacts/preview/note/{note.pk}", body).status_code == 404
    assert post(client, f"/api/artifacts/generate/note/{note.pk}", body).status_code == 404
    assert post(client, "/api/artifacts/paste", {"artifact_id": artifact.pk, "answer": "x"}).status_code == 404
    assert client.get(f"/api/artifacts/{artifact.pk}").status_code == 404
    assert client.get(f"/api/artifacts/{artifact.pk}/versions").status_code == 404
    assert post(client, f"/api/artifacts/{artifact.pk}/regenerate", {}).status_code == 404
    assert post(client, f"/api/artifacts/{artifact.pk}/edit", {"content": "hijack"}).status_code == 404
    assert client.delete(f"/api/artifacts/keys/{key.pk}").status_code == 404
    assert post(client, "/api/artifacts/batch", {"note_ids": [note.pk], "artifact_type": "summary"}).status_code == 404
    assert client.get("/api/artifacts/").json() == []
    assert client.get("/api/artifacts/keys").json() == []
    assert NoteArtifact.objects.count() == 1 and fake.requests == []


def test_a_run_is_claimed_once_and_a_dead_workers_run_is_taken_over(owner, note):
    from datetime import timedelta

    from django.utils import timezone

    from artifacts.pipeline import claim

    artifact = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="summary")
    assert claim(artifact.pk) is True
    assert claim(artifact.pk) is False  # a second delivery of the same task does nothing
    NoteArtifact.objects.filter(pk=artifact.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert claim(artifact.pk) is True
