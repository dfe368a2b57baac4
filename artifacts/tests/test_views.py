"""The note page's artifact section and the artifact pages (htmx partials included)."""

import json

import pytest
from django.urls import reverse

from artifacts.models import NoteArtifact
from llm.testing.fake_provider import Reply

from .conftest import FLASHCARDS

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_the_note_page_has_the_generation_form(owner_client, note, providers):
    html = owner_client.get(reverse("notes:detail", args=[note.pk])).content.decode()
    assert 'name="artifact_type"' in html and 'name="user_description"' in html and 'name="generation_mode"' in html
    assert 'value="copy_paste"' in html and "Flashcards" in html and "Diagram (Mermaid)" in html
    assert reverse("artifacts:preview", args=[note.pk]) in html


def test_preview_partial_shows_cost_and_a_confirm_button(owner_client, note, providers, fake):
    response = owner_client.post(reverse("artifacts:preview", args=[note.pk]),
                                 {"artifact_type": "summary", "generation_mode": "app_key"}, **HX)
    html = response.content.decode()
    assert 'id="preview-cost"' in html and "$0.000" in html and "gemini/gemini-2.0-flash" in html
    assert "Nothing was cut" in html and reverse("artifacts:generate", args=[note.pk]) in html
    assert "<!doctype" not in html  # a fragment
    assert fake.requests == []


def test_preview_says_what_to_fix_when_the_app_model_has_no_key(owner_client, note, providers, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    html = owner_client.post(reverse("artifacts:preview", args=[note.pk]), {"artifact_type": "summary",
                             "generation_mode": "app_key"}, **HX).content.decode()
    assert "This cannot run yet" in html and "GEMINI_API_KEY" in html and "artifacts:generate" not in html


def test_generate_returns_a_polling_card_then_the_result(owner_client, note, providers, fake, celery_eager, run_on_commit):
    fake.script(Reply(json=FLASHCARDS), route="gemini")
    with run_on_commit():
        response = owner_client.post(reverse("artifacts:generate", args=[note.pk]),
                                     {"artifact_type": "flashcards", "generation_mode": "app_key"}, **HX)
    html = response.content.decode()
    artifact = NoteArtifact.objects.get()
    assert f'id="artifact-{artifact.pk}"' in html and 'hx-trigger="every 1s"' in html and "Generating" in html
    assert 'hx-swap-oob="true"' in html
    status = owner_client.get(reverse("artifacts:status", args=[artifact.pk]), **HX).content.decode()
    assert "hx-trigger" not in status and "What keeps a task alive?" in status


def test_copy_paste_modal_keeps_a_bad_paste_and_says_why(owner_client, note, providers, celery_eager, run_on_commit):
    with run_on_commit():
        owner_client.post(reverse("artifacts:generate", args=[note.pk]),
                          {"artifact_type": "flashcards", "generation_mode": "copy_paste"}, **HX)
    artifact = NoteArtifact.objects.get()
    card = owner_client.get(reverse("artifacts:status", args=[artifact.pk]), **HX).content.decode()
    assert "Prompt to copy" in card and "Copy prompt" in card and "Save a reference to the result" in card
    bad = '{"cards": [{"front": "only a front"}]}'
    response = owner_client.post(reverse("artifacts:paste", args=[artifact.pk]), {"answer": bad, "model_name": "x"}, **HX)
    html = response.content.decode()
    assert "The answer was not accepted" in html and "back" in html
    assert "{&quot;cards&quot;: [{&quot;front&quot;: &quot;only a front&quot;}]}" in html  # kept, escaped
    assert "<dialog" in html and " open" in html
    with run_on_commit():
        ok = owner_client.post(reverse("artifacts:paste", args=[artifact.pk]), {"answer": json.dumps(FLASHCARDS),
                               "model_name": "ChatGPT"}, **HX)
    assert "Answer accepted." in ok.content.decode()
    artifact.refresh_from_db()
    assert artifact.status == "completed" and artifact.model == "ChatGPT"


def test_edit_and_regenerate_keep_the_history(owner_client, owner, note, providers, fake, celery_eager, run_on_commit):
    v1 = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="summary", status="completed", content="v1 text",
                                     provider="gemini", model="gemini-2.0-flash")
    response = owner_client.post(reverse("artifacts:edit", args=[v1.pk]), {"content": "v2 by hand"})
    v2 = NoteArtifact.objects.get(version=2)
    assert response.status_code == 302 and v2.origin == "edited" and v2.parent == v1
    fake.script(Reply(text="v3 generated"), route="gemini")
    with run_on_commit():
        owner_client.post(reverse("artifacts:regenerate", args=[v1.pk]))
    v3 = NoteArtifact.objects.get(version=3)
    assert v3.parent == v2 and v3.content == "v3 generated"
    page = owner_client.get(reverse("artifacts:detail", args=[v1.pk])).content.decode()
    assert "Edited by hand" in page and "Regenerated" in page and "v3" in page
    # The note page shows only the newest version of the chain.
    note_page = owner_client.get(reverse("notes:detail", args=[note.pk])).content.decode()
    assert "v3 generated" in note_page and "v1 text" not in note_page


def test_editing_a_quiz_checks_its_json(owner_client, owner, note):
    quiz = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="quiz", status="completed", content="{}")
    response = owner_client.post(reverse("artifacts:edit", args=[quiz.pk]), {"content": '{"questions": []}'})
    assert response.status_code == 200 and "questions" in response.content.decode()
    assert NoteArtifact.objects.count() == 1


@pytest.mark.parametrize("name, method", [
    ("artifacts:detail", "get"), ("artifacts:status", "get"), ("artifacts:edit", "get"), ("artifacts:edit", "post"),
    ("artifacts:paste", "post"), ("artifacts:regenerate", "post"),
])
def test_an_outsider_gets_404_on_artifact_pages(client, outsider, owner, note, name, method):
    artifact = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="summary", status="completed", content="x")
    client.force_login(outsider)
    response = getattr(client, method)(reverse(name, args=[artifact.pk]), {"content": "y", "answer": "y"} if method == "post" else None)
    assert response.status_code == 404
    assert NoteArtifact.objects.count() == 1


@pytest.mark.parametrize("name", ["artifacts:preview", "artifacts:generate"])
def test_an_outsider_gets_404_on_note_actions(client, outsider, note, providers, name):
    client.force_login(outsider)
    assert client.post(reverse(name, args=[note.pk]), {"artifact_type": "summary", "generation_mode": "app_key"}).status_code == 404
    assert not NoteArtifact.objects.exists()


def test_the_index_lists_my_artifacts_only(owner_client, owner, outsider, note):
    NoteArtifact.objects.create(note=note, owner=owner, artifact_type="quiz", status="completed", content="{}")
    html = owner_client.get(reverse("artifacts:index")).content.decode()
    assert "Quiz v1" in html and "Coroutines and Tasks" in html


def test_without_javascript_the_preview_is_a_page_and_generate_redirects(owner_client, note, providers, fake, celery_eager, run_on_commit):
    page = owner_client.post(reverse("artifacts:preview", args=[note.pk]), {"artifact_type": "key_points", "generation_mode": "app_key"})
    assert "<!doctype html>" in page.content.decode() and 'id="preview-cost"' in page.content.decode()
    fake.script(Reply(text="- one"), route="gemini")
    with run_on_commit():
        response = owner_client.post(reverse("artifacts:generate", args=[note.pk]), {"artifact_type": "key_points", "generation_mode": "app_key"})
    assert response.status_code == 302 and response.url == reverse("notes:detail", args=[note.pk])
    assert NoteArtifact.objects.get().status == "completed"


def test_the_webhooks_page_shows_the_secret_once(owner_client, owner, settings):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = False
    refused = owner_client.post(reverse("artifacts:webhooks"), {"url": "http://127.0.0.1:8000/hook"})
    assert "private address" in refused.content.decode()
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = True
    created = owner_client.post(reverse("artifacts:webhooks"), {"url": "http://127.0.0.1:8000/hook"}).content.decode()
    from artifacts.models import Webhook

    secret = Webhook.objects.get().secret
    assert secret in created
    assert secret not in owner_client.get(reverse("artifacts:webhooks")).content.decode()


def test_admin_pages_never_show_a_users_key(client, staff, owner):
    from artifacts.models import UserApiKey

    staff.is_superuser = True
    staff.save()
    key = UserApiKey(user=owner, provider="openai")
    key.set_key("sk-admin-must-not-see-5678")
    key.save()
    client.force_login(staff)
    for url in ("/admin/artifacts/userapikey/", f"/admin/artifacts/userapikey/{key.pk}/change/"):
        html = client.get(url).content.decode()
        assert "sk-admin-must-not-see" not in html and key.encrypted_key not in html
    assert client.get("/admin/artifacts/noteartifact/").status_code == 200



def test_a_rejected_paste_without_htmx_keeps_the_text_and_says_why(owner_client, owner, note, providers):
    """The no-JavaScript path of the copy/paste dialog."""
    from artifacts import pipeline
    from artifacts.models import NoteArtifact

    artifact = pipeline.create_artifact(note, owner, "flashcards", mode="copy_paste")
    pipeline.run(artifact.pk)
    response = owner_client.post(f"/artifacts/{artifact.pk}/paste/", {"answer": '{"cards": "oops"}', "model_name": "x"})
    body = response.content.decode()
    assert response.status_code == 400 and "not accepted" in body and "{&quot;cards&quot;: &quot;oops&quot;}" in body
    assert "<dialog" in body and "open" in body
    assert NoteArtifact.objects.get(pk=artifact.pk).status == "waiting_manual"


def test_a_safety_block_is_shown_as_the_models_refusal_and_asked_once(owner_client, note, providers, fake, celery_eager,
                                                                      run_on_commit):
    fake.script(Reply(finish_reason="SAFETY"), Reply(json=FLASHCARDS), route="gemini")
    with run_on_commit():
        owner_client.post(reverse("artifacts:generate", args=[note.pk]),
                          {"artifact_type": "flashcards", "generation_mode": "app_key"}, **HX)
    artifact = NoteArtifact.objects.get()
    card = owner_client.get(reverse("artifacts:status", args=[artifact.pk]), **HX).content.decode()
    assert artifact.status == "failed" and "The model declined: the answer was blocked (SAFETY" in card
    assert "HARM_CATEGORY_DANGEROUS_CONTENT: HIGH" in card
    assert len(fake.requests_for("gemini")) == 1  # a block is not re-asked as if the JSON were bad


def test_only_the_first_artifact_removes_the_nothing_yet_line(owner_client, note, providers, fake, celery_eager,
                                                             run_on_commit):
    # An out-of-band delete with no target is an htmx error in the browser console.
    fake.set_default(Reply(text="Summary."))
    with run_on_commit():
        first = owner_client.post(reverse("artifacts:generate", args=[note.pk]),
                                  {"artifact_type": "summary", "generation_mode": "app_key"}, **HX).content.decode()
        second = owner_client.post(reverse("artifacts:generate", args=[note.pk]),
                                   {"artifact_type": "key_points", "generation_mode": "app_key"}, **HX).content.decode()
    assert 'id="no-artifacts" hx-swap-oob="delete"' in first
    assert "no-artifacts" not in second
