"""llm.calls.images against the official OpenAI and google-genai SDKs talking to the fake provider server."""

import base64
import hashlib
import io
import json
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from llm.records import interactions
from llm.errors import LLMConfigurationError, LLMInvalidOutputError, LLMRequestRejected
from llm.calls import create_image_job, generate_image
from llm.models import GeneratedImage, LLMQuery
from llm.tasks import run_image_job
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


def _png_b64(width: int = 512, height: int = 384) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


PNG_B64 = _png_b64()


def _stored(path: str) -> bytes:
    with default_storage.open(path, "rb") as fh:
        return fh.read()


def _assert_stored_with_thumbnail(image: GeneratedImage, size=(512, 384)) -> None:
    assert image.status == "completed" and image.error == ""
    assert image.image_path.startswith("images/") and image.image_path.endswith(".png")
    data = _stored(image.image_path)
    assert (image.width, image.height, image.bytes) == (*size, len(data))
    assert Image.open(io.BytesIO(data)).size == size
    assert image.thumbnail_path.endswith("_thumb.png")
    thumb = Image.open(io.BytesIO(_stored(image.thumbnail_path)))
    assert thumb.format == "PNG" and max(thumb.size) <= 256


def _interaction(row: LLMQuery) -> dict:
    raw = interactions.read(row.file_path)
    assert hashlib.sha256(raw).hexdigest() == row.file_sha256
    return json.loads(raw)


def test_gpt_image_1_stores_the_image_and_prices_the_reported_tokens(providers, fake, owner):
    fake.script(Reply(image_b64=PNG_B64, usage={"input_tokens": 100, "output_tokens": 4160}), route="openai_images")
    image = generate_image(purpose="tests.image", prompt="A red square", provider="openai", model="gpt-image-1",
                           quality="medium", user=owner)
    _assert_stored_with_thumbnail(image)
    sent = fake.requests[-1]
    assert sent.route == "openai_images"
    assert sent.body["model"] == "gpt-image-1" and sent.body["quality"] == "medium" and "response_format" not in sent.body
    row = LLMQuery.objects.get(pk=image.query_id)
    assert row.status == "ok" and row.attempt == 1 and row.user == owner and row.purpose == "tests.image"
    assert row.params == {"size": "1024x1024", "quality": "medium", "kind": "image"}
    assert (row.input_tokens, row.output_tokens) == (100, 4160)
    # $5/1M text in, $40/1M image out: tokens win over the per-image price when reported
    assert row.cost_usd == Decimal("0.16690000") == image.cost_usd
    doc = _interaction(row)
    assert doc["prompt"] == "A red square" and doc["params"]["kind"] == "image"
    assert doc["response"]["image_path"] == image.image_path
    assert doc["response"]["image_sha256"] == hashlib.sha256(_stored(image.image_path)).hexdigest()
    assert PNG_B64[:200] not in interactions.read(row.file_path).decode()


def test_dall_e_3_asks_for_base64_and_costs_the_per_image_price(providers, fake, owner):
    fake.script(Reply(image_b64=PNG_B64, text="A crisp red square, studio light"), route="openai_images")
    image = generate_image(purpose="tests.image", prompt="A red square", provider="openai", model="dall-e-3",
                           quality="hd", user=owner)
    _assert_stored_with_thumbnail(image)
    sent = fake.requests[-1].body
    assert sent["response_format"] == "b64_json" and sent["quality"] == "hd" and sent["size"] == "1024x1024"
    assert image.revised_prompt == "A crisp red square, studio light"
    row = LLMQuery.objects.get(pk=image.query_id)
    assert row.status == "ok" and row.cost_usd == Decimal("0.08") == image.cost_usd


def test_gemini_makes_the_image_through_generate_content(providers, fake, owner):
    fake.script(Reply(image_b64=_png_b64(300, 300)), route="gemini")
    image = generate_image(purpose="tests.image", prompt="A red square", provider="gemini", user=owner)
    _assert_stored_with_thumbnail(image, size=(300, 300))
    assert image.model_name == "gemini-2.5-flash-image"
    sent = fake.requests[-1]
    assert sent.route == "gemini" and "gemini-2.5-flash-image" in sent.path
    assert sent.body["generationConfig"]["responseModalities"] == ["IMAGE"]
    row = LLMQuery.objects.get(pk=image.query_id)
    assert row.status == "ok" and row.cost_usd == Decimal("0.039")
    assert _interaction(row)["response"]["image_path"] == image.image_path


def test_it_retries_after_429_with_one_row_per_attempt(providers, fake, owner):
    fake.script(Reply(status=429, retry_after=0), Reply(image_b64=PNG_B64), route="openai_images")
    image = generate_image(purpose="tests.image", prompt="A red square", provider="openai", model="dall-e-3")
    assert image.status == "completed"
    rows = list(LLMQuery.objects.filter(purpose="tests.image").order_by("attempt"))
    assert [(r.attempt, r.status, r.http_status) for r in rows] == [(1, "rate_limited", 429), (2, "ok", 200)]
    assert rows[0].cost_usd is None and rows[0].file_path
    assert image.query_id == rows[1].pk


def test_a_content_policy_refusal_fails_at_once_with_the_providers_message(providers, fake, owner):
    fake.script(Reply(status=400, error_message="Your request was rejected as a result of our safety system.",
                      error_code="content_policy_violation"), route="openai_images")
    with pytest.raises(LLMRequestRejected, match="safety system") as caught:
        generate_image(purpose="tests.image", prompt="Something forbidden", provider="openai", model="dall-e-3", user=owner)
    assert len([r for r in fake.requests if r.route == "openai_images"]) == 1
    row = LLMQuery.objects.get(purpose="tests.image")
    assert row.status == "error" and row.http_status == 400 and caught.value.query_id == row.pk
    image = GeneratedImage.objects.get()
    assert image.status == "failed" and "safety system" in image.error and image.query_id == row.pk


def test_it_rejects_bytes_that_are_not_an_image(providers, fake, owner):
    fake.script(Reply(image_b64=base64.b64encode(b"<html>not an image</html>").decode()), route="openai_images")
    with pytest.raises(LLMInvalidOutputError, match="not a readable image"):
        generate_image(purpose="tests.image", prompt="A red square", provider="openai", model="gpt-image-1")
    row = LLMQuery.objects.get(purpose="tests.image")
    assert row.status == "invalid_output" and row.cost_usd is not None  # the provider billed it anyway
    image = GeneratedImage.objects.get()
    assert image.status == "failed" and image.image_path == ""
    assert not default_storage.exists("images")


def test_an_unpriced_model_logs_cost_null_not_zero(providers, fake):
    fake.script(Reply(image_b64=PNG_B64), route="openai_images")
    image = generate_image(purpose="tests.image", prompt="A red square", provider="openai", model="gpt-image-9")
    assert image.status == "completed" and image.cost_usd is None
    assert LLMQuery.objects.get(pk=image.query_id).cost_usd is None


def test_a_text_only_model_or_provider_is_refused_before_any_call(providers, fake):
    with pytest.raises(LLMConfigurationError, match="does not generate images"):
        generate_image(purpose="tests.image", prompt="A red square", provider="openai", model="gpt-4o-mini")
    with pytest.raises(LLMConfigurationError, match="cannot generate images"):
        generate_image(purpose="tests.image", prompt="A red square", provider="anthropic")
    assert not fake.requests and not LLMQuery.objects.exists()


def test_the_task_makes_a_queued_image_and_a_second_run_does_nothing(
    providers, fake, owner, celery_eager, django_capture_on_commit_callbacks
):
    fake.script(Reply(image_b64=PNG_B64), route="openai_images")
    with django_capture_on_commit_callbacks(execute=True):
        image = create_image_job(purpose="tests.image", prompt="A red square", provider="openai", model="dall-e-3",
                                 user=owner)
        assert GeneratedImage.objects.get(pk=image.pk).status == "queued"
    image.refresh_from_db()
    _assert_stored_with_thumbnail(image)
    run_image_job.delay(image.pk)
    assert len(fake.requests) == 1 and LLMQuery.objects.count() == 1
    assert GeneratedImage.objects.get(pk=image.pk).image_path == image.image_path


def test_the_task_records_why_an_image_failed(providers, fake, owner, celery_eager, django_capture_on_commit_callbacks):
    fake.script(Reply(status=400, error_message="Invalid size for this model."), route="openai_images")
    with django_capture_on_commit_callbacks(execute=True):
        image = create_image_job(purpose="tests.image", prompt="A red square", provider="openai", model="gpt-image-1",
                                 user=owner)
    image.refresh_from_db()
    assert image.status == "failed" and "Invalid size" in image.error and image.finished_at is not None


def test_the_page_generates_an_image_and_only_the_owner_sees_its_bytes(
    providers, fake, owner, outsider, client, celery_eager, django_capture_on_commit_callbacks
):
    fake.script(Reply(image_b64=PNG_B64), route="openai_images")
    client.force_login(owner)
    assert client.get(reverse("llm:images")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("llm:images"), {
            "prompt": "A red square", "provider": providers["openai"].pk, "model_name": "dall-e-3",
            "size": "1024x1024", "quality": "standard",
        })
    image = GeneratedImage.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("llm:image", args=[image.pk])
    status = client.get(reverse("llm:image", args=[image.pk]), headers={"HX-Request": "true"})
    assert b"Completed" in status.content and b"hx-trigger" not in status.content
    full = client.get(reverse("llm:image-file", args=[image.pk]))
    assert full["Content-Type"] == "image/png" and b"".join(full.streaming_content) == _stored(image.image_path)
    thumb = client.get(reverse("llm:image-file", args=[image.pk]) + "?thumb=1&download=1")
    assert "attachment" in thumb["Content-Disposition"]
    assert b"".join(thumb.streaming_content) == _stored(image.thumbnail_path)
    assert b"Download" in client.get(reverse("llm:images")).content

    client.force_login(outsider)
    for url in (reverse("llm:image", args=[image.pk]), reverse("llm:image-file", args=[image.pk])):
        assert client.get(url).status_code == 404
    assert b"A red square" not in client.get(reverse("llm:images")).content


def test_the_form_refuses_a_quality_the_model_does_not_take(providers, owner_client):
    response = owner_client.post(reverse("llm:images"), {
        "prompt": "A red square", "provider": providers["openai"].pk, "model_name": "dall-e-3",
        "size": "1024x1024", "quality": "low",
    })
    assert response.status_code == 200 and b"dall-e-3 takes quality hd, standard" in response.content
    assert not GeneratedImage.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_image_page_polls_until_the_image_arrives(page, providers, fake, owner):
    from conftest import login
    from playwright.sync_api import expect

    from llm.calls.images import run_job

    fake.script(Reply(image_b64=PNG_B64), route="openai_images")
    # Queued by hand (not through the broker), so this test decides when the job runs.
    image = GeneratedImage.objects.create(user=owner, purpose="llm.images", provider=providers["openai"],
                                          model_name="dall-e-3", prompt="A red square")
    login(page, "owner", "owner-pass-123")
    page.goto(reverse("llm:image", args=[image.pk]))
    expect(page.get_by_text("Working")).to_be_visible()
    run_job(image.pk)
    expect(page.locator("#generated-image")).to_be_visible()
    assert page.evaluate("document.querySelector('#generated-image').naturalWidth") == 256
    page.goto(reverse("llm:images"))
    expect(page.get_by_role("link", name="Download")).to_be_visible()


@pytest.mark.django_db
def test_an_image_over_the_budget_is_refused_before_anything_is_sent(providers, fake, owner):
    from decimal import Decimal

    from llm.calls import generate_image
    from llm.models import Budget, BudgetUsage

    Budget.objects.create(user=owner, period="day", limit_usd=Decimal("0.05"))
    first = generate_image(purpose="tests.image-budget", prompt="a red fox", provider="openai", model="dall-e-3",
                           size="1024x1024", quality="standard", user=owner)
    assert first.status == "completed" and first.cost_usd == Decimal("0.04")
    from llm.errors import LLMBudgetExceeded
    from llm.models import GeneratedImage

    with pytest.raises(LLMBudgetExceeded, match="daily budget for owner"):
        generate_image(purpose="tests.image-budget", prompt="a blue fox", provider="openai", model="dall-e-3",
                       size="1024x1024", quality="standard", user=owner)
    second = GeneratedImage.objects.get(prompt="a blue fox")
    assert second.status == "failed" and "budget" in second.error
    assert len(fake.requests_for("openai_images")) == 1
    usage = BudgetUsage.objects.get()
    assert usage.spent_usd == Decimal("0.04") and usage.reserved_usd == 0
