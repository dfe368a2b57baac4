"""Artifacts stream from the worker to the note page (SSE through the real view), Stop leaves a
cancelled row and no content, and the in-browser mode posts back like a pasted answer."""

import threading

import pytest

from artifacts import pipeline
from artifacts.models import NoteArtifact
from conftest import wait_until
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply
from llm.tests.test_live_playground import read_sse, run_async


def _artifact(note, owner, **kw):
    return pipeline.create_artifact(note, owner, kw.pop("artifact_type", "summary"), **kw)


def _in_thread(artifact_id: int) -> threading.Thread:
    from django.db import connection

    def work():
        try:
            pipeline.run(artifact_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_summary_streams_through_the_sse_view_and_the_row_has_the_reported_usage(async_client, note, owner, providers, fake):
    fake.script(Reply(text="Keep a reference to every task you create.", chunk_words=1,
                      usage={"input_tokens": 300, "output_tokens": 9}))
    artifact = _artifact(note, owner)
    assert pipeline.streams_live(artifact)
    pipeline.run(artifact.pk)
    async_client.force_login(owner)
    events = read_sse(async_client, f"/artifacts/{artifact.pk}/live/")
    chunks = [d["t"] for e, d in events if e == "chunk"]
    assert "".join(chunks) == "Keep a reference to every task you create." and len(chunks) == 8
    assert [e for e, _ in events][-2:] == ["done", "end"]
    artifact.refresh_from_db()
    row = LLMQuery.objects.get()
    assert artifact.status == "completed" and artifact.content == "".join(chunks) and artifact.query_id == row.pk
    assert (row.input_tokens, row.output_tokens) == (300, 9) and not row.usage_estimated
    assert artifact.cost_usd == row.cost_usd and row.cost_usd > 0
    assert fake.requests[0].stream


@pytest.mark.django_db
def test_a_structured_kind_does_not_stream(note, owner, providers):
    assert not pipeline.streams_live(_artifact(note, owner, artifact_type="flashcards"))


@pytest.mark.django_db(transaction=True)
def test_stop_leaves_a_cancelled_row_and_no_artifact_content(client, note, owner, providers, fake):
    fake.script(Reply(text=" ".join(f"word{i}" for i in range(400)), chunk_words=1, chunk_delay=0.01))
    artifact = _artifact(note, owner)
    worker = _in_thread(artifact.pk)
    wait_until(lambda: fake.requests and fake.requests[0].chunks_sent > 5, what="the first chunks", timeout=10)
    client.force_login(owner)
    response = client.post(f"/artifacts/{artifact.pk}/stop/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    worker.join(10)
    artifact.refresh_from_db()
    row = LLMQuery.objects.get()
    assert artifact.status == "cancelled" and artifact.content == "" and artifact.structured_content is None
    assert row.status == "cancelled" and row.output_tokens > 0 and row.usage_estimated
    assert fake.requests[0].chunks_sent < 400
    wait_until(lambda: fake.requests[0].client_closed, what="the provider request closed", timeout=5)
    assert "Generate again" in client.get(f"/artifacts/{artifact.pk}/status/").content.decode()


@pytest.mark.django_db
def test_a_queued_artifact_is_stopped_before_it_runs(client, note, owner, providers, fake):
    artifact = _artifact(note, owner)
    client.force_login(owner)
    client.post(f"/artifacts/{artifact.pk}/stop/")
    assert pipeline.run(artifact.pk) is None and fake.requests == []
    assert NoteArtifact.objects.get(pk=artifact.pk).status == "cancelled"


@pytest.mark.django_db
def test_a_provider_cut_off_fails_the_artifact_and_keeps_no_content(note, owner, providers, fake):
    fake.script(Reply(text="a b c d e f", chunk_words=1, stream_cut_after=2))
    artifact = pipeline.run(_artifact(note, owner).pk)
    assert artifact.status == "failed" and artifact.content == "" and "broke off" in artifact.error
    assert LLMQuery.objects.get().status == "interrupted"


@pytest.mark.django_db(transaction=True)
def test_others_cannot_subscribe_or_stop(async_client, client, note, owner, outsider, providers):
    artifact = _artifact(note, owner)
    async_client.force_login(outsider)

    async def go():
        return await async_client.get(f"/artifacts/{artifact.pk}/live/")

    assert run_async(go).status_code == 404
    client.force_login(outsider)
    assert client.post(f"/artifacts/{artifact.pk}/stop/").status_code == 404


@pytest.mark.django_db
def test_without_redis_the_card_polls_and_the_call_is_not_streamed(client, note, owner, providers, fake, settings):
    settings.REDIS_URL = ""
    artifact = _artifact(note, owner)
    client.force_login(owner)
    html = client.get(f"/artifacts/{artifact.pk}/status/").content.decode()
    assert 'hx-trigger="every 1s"' in html and "data-live-url" not in html
    pipeline.run(artifact.pk)
    assert not fake.requests[0].stream


@pytest.mark.django_db
def test_the_browser_mode_waits_for_the_page_and_takes_its_answer_like_a_paste(client, note, owner, providers, celery_eager,
                                                                             run_on_commit):
    client.force_login(owner)
    with run_on_commit():
        client.post(f"/artifacts/note/{note.pk}/generate/", {"artifact_type": "summary", "generation_mode": "browser"})
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "waiting_manual" and artifact.provider == "browser"
    card = client.get(f"/artifacts/{artifact.pk}/status/").content.decode()
    assert "data-browser-run" in card and "data-prompt=" in card
    assert "Save a reference to the result of this function." in card  # the assembled prompt, as JSON
    with run_on_commit():
        client.post(f"/artifacts/{artifact.pk}/paste/", {"answer": "Keep task references.",
                                                          "model_name": "gemini-nano (Chrome 131)"})
    artifact.refresh_from_db()
    row = LLMQuery.objects.get(pk=artifact.query_id)
    assert artifact.status == "completed" and artifact.content == "Keep task references."
    assert (row.provider_name, row.model_name, row.cost_usd) == ("browser", "gemini-nano (Chrome 131)", 0)


@pytest.mark.django_db
def test_the_browser_mode_is_refused_for_a_batch(note, owner, providers):
    with pytest.raises(pipeline.GenerationSetupError, match="one artifact at a time"):
        pipeline.create_batch(owner, [note], "summary", "browser")
