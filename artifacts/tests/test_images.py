"""Image artifacts: the model writes the prompt, llm's image service draws it; gallery, new prompt, download."""

import base64
import io
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from PIL import Image

from artifacts.models import ArtifactImage, NoteArtifact
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


def png_b64(size=(64, 48)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def generate(client, note, mode="app_key", **extra):
    return client.post(f"/api/artifacts/generate/note/{note.pk}", data=json.dumps(
        {"artifact_type": "image", "generation_mode": mode, **extra}), content_type="application/json")


def test_an_image_artifact_gets_its_picture_and_a_gallery(owner_client, client, outsider, note, providers, fake,
                                                          celery_eager, run_on_commit):
    fake.script(Reply(text="A chloroplast splitting water, diagram style", usage={"input_tokens": 1000, "output_tokens": 20}),
                route="gemini")
    fake.script(Reply(image_b64=png_b64()), route="gemini")
    with run_on_commit():
        generate(owner_client, note)
    artifact = NoteArtifact.objects.get()
    image = ArtifactImage.objects.get()
    assert artifact.status == "completed" and artifact.content == "A chloroplast splitting water, diagram style"
    assert image.ok and image.prompt == artifact.content and image.generated.model_name == "gemini-2.5-flash-image"
    assert "gemini-2.5-flash-image" in fake.requests[-1].path
    # The artifact's cost is the prompt call plus the picture.
    artifact.refresh_from_db()
    assert artifact.cost_usd == Decimal("0.000108") + Decimal("0.039")
    page = owner_client.get(reverse("notes:detail", args=[note.pk])).content.decode()
    file_url = reverse("llm:image-file", args=[image.generated_id])
    assert f"{file_url}?thumb=1" in page and f"{file_url}?download=1" in page and "Image gallery" in page
    thumb = owner_client.get(file_url, {"thumb": 1})
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/png"
    client.force_login(outsider)
    assert client.get(file_url).status_code == 404


def test_a_new_prompt_is_a_new_version_with_a_new_picture(owner_client, owner, note, providers, fake, celery_eager, run_on_commit):
    v1 = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="image", status="completed", content="old prompt",
                                     provider="gemini", model="gemini-2.0-flash")
    fake.script(Reply(image_b64=png_b64()), route="gemini")
    with run_on_commit():
        response = owner_client.post(reverse("artifacts:edit", args=[v1.pk]), {"content": "A red bicycle"})
    assert response.status_code == 302
    v2 = NoteArtifact.objects.get(version=2)
    assert v2.content == "A red bicycle" and v2.images.get().ok and v2.images.get().generated.prompt == "A red bicycle"
    assert not v1.images.exists()


def test_a_failed_picture_keeps_the_prompt_and_says_why(owner_client, note, providers, fake, celery_eager, run_on_commit):
    fake.script(Reply(text="A prompt"), route="gemini")
    fake.script(Reply(status=400, error_message="content policy says no"), route="gemini")
    with run_on_commit():
        generate(owner_client, note)
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "completed" and artifact.content == "A prompt"
    assert "content policy says no" in ArtifactImage.objects.get().error
    page = owner_client.get(reverse("artifacts:detail", args=[artifact.pk])).content.decode()
    assert "The picture could not be made" in page and "content policy says no" in page


def test_with_a_users_own_key_the_picture_is_drawn_with_that_key(owner_client, note, providers, fake, celery_eager,
                                                                 run_on_commit, monkeypatch):
    from llm.models import LLMQuery

    monkeypatch.delenv("OPENAI_API_KEY")  # the app has no OpenAI key: only the user's key can pay
    owner_client.post("/api/artifacts/keys", data=json.dumps({"provider": "openai", "api_key": "sk-user-1234567"}),
                      content_type="application/json")
    fake.script(Reply(text="A prompt"), route="openai")
    fake.script(Reply(image_b64=png_b64()), route="openai_images")
    with run_on_commit():
        generate(owner_client, note, mode="user_key", provider="openai")
    assert [r.route for r in fake.requests] == ["openai", "openai_images"]
    assert all(r.headers["authorization"] == "Bearer sk-user-1234567" for r in fake.requests)
    image = ArtifactImage.objects.get()
    assert image.ok and image.generated.model_name == "gpt-image-1"
    assert set(LLMQuery.objects.values_list("key_source", flat=True)) == {"user"}


def test_the_preview_includes_the_picture_price(owner_client, note, providers, fake):
    data = owner_client.post(f"/api/artifacts/preview/note/{note.pk}", data=json.dumps({"artifact_type": "image"}),
                             content_type="application/json").json()
    assert data["image_model"] == "gemini/gemini-2.5-flash-image" and Decimal(data["image_cost_usd"]) == Decimal("0.039")
    assert Decimal(data["max_cost_usd"]) > Decimal("0.039")
    html = owner_client.post(reverse("artifacts:preview", args=[note.pk]), {"artifact_type": "image", "generation_mode": "app_key"},
                             HTTP_HX_REQUEST="true").content.decode()
    assert "gemini/gemini-2.5-flash-image, $0.039 per image" in html
    assert fake.requests == []
