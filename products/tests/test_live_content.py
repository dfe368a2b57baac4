"""Step 4 streams: the SSE view runs the content call itself and sends its chunks; Stop and a
closed page stop the call, and nothing half-written is stored."""

import json

import pytest
from django.urls import reverse

from llm.models import LLMQuery
from llm.testing.fake_provider import Reply
from llm.tests.test_live_playground import read_sse, run_async
from products import live, pipeline
from products.models import GenerationSession

CONTENT = {"title": "Lumora Glide 600 W Smart Dimmer", "description": "A Wi-Fi dimmer for LED and halogen bulbs.",
           "bullet_points": ["600 W", "Wi-Fi"], "search_keywords": ["dimmer", "smart"]}


@pytest.fixture
def at_step_four(owner, providers, catalog_ready):
    session = pipeline.create_session(owner=owner, raw_input="Lumora Glide dimmer, 600 W, Wi-Fi", provider_name="openai",
                                      model_name="gpt-4o-mini")
    session.subcategory = catalog_ready["dimmers"]
    session.category = catalog_ready["dimmers"].category
    session.save()
    return session


@pytest.mark.django_db(transaction=True)
def test_the_content_streams_through_the_view_and_is_stored_once_validated(async_client, owner, at_step_four, fake):
    fake.script(Reply(json=CONTENT, chunk_words=3, usage={"input_tokens": 150, "output_tokens": 40}))
    assert live.should_stream(at_step_four)
    async_client.force_login(owner)
    events = read_sse(async_client, reverse("products:wizard-content-live", args=[at_step_four.pk]))
    text = "".join(d["t"] for e, d in events if e == "chunk")
    assert json.loads(text) == CONTENT and len([e for e, _ in events if e == "chunk"]) > 3
    assert [e for e, _ in events][-2:] == ["done", "end"]
    session = GenerationSession.objects.get(pk=at_step_four.pk)
    assert session.generated_content["title"] == CONTENT["title"]
    row = LLMQuery.objects.get()
    assert (row.status, row.input_tokens, row.output_tokens, row.usage_estimated) == ("ok", 150, 40, False)
    assert fake.requests[0].stream


@pytest.mark.django_db(transaction=True)
def test_invalid_streamed_json_is_re_asked_and_the_page_is_told_to_reset(async_client, owner, at_step_four, fake):
    fake.script(Reply(text='{"title": "only a title"}'), Reply(json=CONTENT))
    async_client.force_login(owner)
    events = read_sse(async_client, reverse("products:wizard-content-live", args=[at_step_four.pk]))
    assert "reset" in [e for e, _ in events]
    assert list(LLMQuery.objects.order_by("pk").values_list("status", flat=True)) == ["invalid_output", "ok"]
    assert GenerationSession.objects.get(pk=at_step_four.pk).generated_content["title"] == CONTENT["title"]


@pytest.mark.django_db(transaction=True)
def test_stop_cancels_the_call_and_stores_nothing(async_client, owner, at_step_four, fake):
    long = dict(CONTENT, description=" ".join(["word"] * 300))
    fake.script(Reply(json=long, chunk_words=1, chunk_delay=0.01))
    async_client.force_login(owner)

    async def go():
        response = await async_client.get(reverse("products:wizard-content-live", args=[at_step_four.pk]))
        seen = 0
        body = b""
        async for part in response.streaming_content:
            body += part
            seen += part.count(b"event: chunk")
            if seen == 5:
                from asgiref.sync import sync_to_async

                await sync_to_async(live.stop)(at_step_four)
        return body.decode()

    body = run_async(go)
    assert "event: done" in body
    session = GenerationSession.objects.get(pk=at_step_four.pk)
    assert not session.generated_content and session.status_of("generate") == "failed"
    assert LLMQuery.objects.get().status == "cancelled"
    assert fake.requests[0].chunks_sent < 300


@pytest.mark.django_db(transaction=True)
def test_a_closed_page_ends_the_call_as_client_closed(async_client, owner, at_step_four, fake):
    fake.script(Reply(json=dict(CONTENT, description=" ".join(["word"] * 300)), chunk_words=1, chunk_delay=0.01))
    async_client.force_login(owner)

    async def go():
        response = await async_client.get(reverse("products:wizard-content-live", args=[at_step_four.pk]))
        iterator = response.streaming_content.__aiter__()
        for _ in range(4):
            await iterator.__anext__()
        await iterator.aclose()  # what Django does when the browser disconnects

    run_async(go)
    from conftest import wait_until

    wait_until(lambda: LLMQuery.objects.filter(status="client_closed").exists(), what="the row closed", timeout=10)
    assert not GenerationSession.objects.get(pk=at_step_four.pk).generated_content


@pytest.mark.django_db
def test_a_page_that_streams_hands_step_four_over_and_without_script_the_button_still_works(owner_client, at_step_four,
                                                                                           fake):
    from products import live as product_live

    fake.set_default(Reply(json=CONTENT))
    product_live.hand_over(at_step_four)  # what step 3's "continue" does when the page said live=1
    page = owner_client.get(reverse("products:wizard-step", args=[at_step_four.pk, 4])).content.decode()
    assert "data-live-url" in page and "Generate the content" in page  # the live panel, and the plain button
    owner_client.post(reverse("products:wizard-step", args=[at_step_four.pk, 4]), {"action": "retry"})
    assert GenerationSession.objects.get(pk=at_step_four.pk).generated_content["title"] == CONTENT["title"]


@pytest.mark.django_db(transaction=True)
def test_others_cannot_stream_someone_elses_session(async_client, outsider, at_step_four):
    async_client.force_login(outsider)

    async def go():
        return await async_client.get(reverse("products:wizard-content-live", args=[at_step_four.pk]))

    assert run_async(go).status_code == 404
