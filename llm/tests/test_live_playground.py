"""The playground streams: the worker publishes the chunks, the job page's SSE view relays them;
Stop cancels the job and its call."""

import json
import threading

import pytest
from asgiref.sync import async_to_sync

from llm.calls.jobs import create_job, run_job, stop_job
from llm.models import LLMJob, LLMQuery
from llm.testing.fake_provider import Reply


def run_async(coro_fn):
    """Run an async test body to its end in a thread of its own (the browser tests' Playwright
    keeps an event loop on the main thread, where async_to_sync refuses to run). The thread has
    its own database connection: tests that use this are transaction=True, so they see the data."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def work():
        try:
            return async_to_sync(coro_fn)()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def read_sse(client, url: str) -> list[tuple[str, dict]]:
    """The events of an SSE response from the real async view (Django's ASGI test client)."""

    async def go():
        response = await client.get(url)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
        body = b""
        async for part in response.streaming_content:
            body += part
        return body.decode()

    events = []
    for block in run_async(go).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":") and ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def worker_thread(job_id: int) -> threading.Thread:
    """The worker's side in a thread (its own database connection, closed at the end)."""
    from django.db import connection

    def work():
        try:
            run_job(job_id)
        finally:
            connection.close()

    return threading.Thread(target=work)


def _job(owner, providers, **kw):
    return LLMJob.objects.create(user=owner, provider=providers["openai"], model_name="gpt-4o-mini",
                                 prompt=kw.pop("prompt", "Write a haiku"), **kw)


@pytest.mark.django_db(transaction=True)
def test_the_job_page_streams_the_answer_through_the_sse_view(async_client, owner, providers, fake):
    fake.script(Reply(text="Autumn moonlight, a worm digs silently", chunk_words=1,
                      usage={"input_tokens": 12, "output_tokens": 7}))
    job = _job(owner, providers)
    run_job(job.pk)  # the worker's side: chunks published (and kept for late subscribers)
    async_client.force_login(owner)
    events = read_sse(async_client, f"/llm/jobs/{job.pk}/live/")
    chunks = [d["t"] for e, d in events if e == "chunk"]
    assert len(chunks) == 6 and "".join(chunks) == "Autumn moonlight, a worm digs silently"
    assert [e for e, _ in events][-2:] == ["done", "end"]
    job.refresh_from_db()
    row = LLMQuery.objects.get()
    assert job.status == "completed" and job.result_text == "".join(chunks) and job.query_id == row.pk
    assert (row.input_tokens, row.output_tokens, row.usage_estimated) == (12, 7, False)


@pytest.mark.django_db(transaction=True)
def test_a_subscriber_sees_chunks_while_the_worker_writes_them(async_client, owner, providers, fake):
    fake.script(Reply(text="one two three four five", chunk_words=1, chunk_delay=0.05, first_chunk_delay=0.3))
    job = _job(owner, providers)
    worker = worker_thread(job.pk)
    async_client.force_login(owner)
    worker.start()
    events = read_sse(async_client, f"/llm/jobs/{job.pk}/live/")
    worker.join(10)
    assert "".join(d["t"] for e, d in events if e == "chunk") == "one two three four five"
    assert events[-1][0] == "end"


@pytest.mark.django_db(transaction=True)
def test_stop_cancels_the_running_job_and_its_row(owner, providers, fake):
    fake.script(Reply(text=" ".join(f"w{i}" for i in range(300)), chunk_words=1, chunk_delay=0.01))
    job = _job(owner, providers)
    worker = worker_thread(job.pk)
    worker.start()
    from conftest import wait_until

    wait_until(lambda: fake.requests_for("openai") and fake.requests_for("openai")[0].chunks_sent > 3, timeout=10,
               what="the first chunks")
    job.refresh_from_db()
    assert stop_job(job)
    worker.join(10)
    job.refresh_from_db()
    row = LLMQuery.objects.get()
    assert job.status == "cancelled" and job.result_text == "" and row.status == "cancelled"
    assert fake.requests_for("openai")[0].chunks_sent < 300


@pytest.mark.django_db
def test_a_queued_job_is_stopped_before_it_starts(owner, providers, client):
    job = _job(owner, providers)
    client.force_login(owner)
    client.post(f"/llm/jobs/{job.pk}/stop/")
    job.refresh_from_db()
    assert job.status == "cancelled" and run_job(job.pk) is None and not LLMQuery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_others_cannot_read_or_stop_a_job(async_client, client, owner, outsider, providers):
    job = _job(owner, providers)
    async_client.force_login(outsider)

    async def go():
        return await async_client.get(f"/llm/jobs/{job.pk}/live/")

    assert run_async(go).status_code == 404
    client.force_login(outsider)
    assert client.post(f"/llm/jobs/{job.pk}/stop/").status_code == 404


@pytest.mark.django_db
def test_without_redis_the_job_page_polls(client, owner, providers, settings):
    settings.REDIS_URL = ""
    job = _job(owner, providers)
    client.force_login(owner)
    html = client.get(f"/llm/jobs/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in html and "data-live-url" not in html
