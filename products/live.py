"""The content step streams: the page's SSE view runs the call itself and sends each chunk.

Step 4 runs in the web request (no worker), so this is llm's direct path: the async view starts
``pipeline.run_generate`` in a thread with a chunk callback and relays the chunks as server-sent
events. The Stop button sets llm.calls.live's stop flag, and the callback then stops the stream
(row ``cancelled``); a closed tab cancels the view, and the callback ends the stream as
``client_closed``. Either way nothing is stored as the content. The answer is JSON
(title, description, bullets, keywords): the page shows it as it is written, and is reloaded
once it has been validated and stored.
"""

import asyncio
import threading

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import close_old_connections, connection

from llm.calls import live
from llm.calls.live import StopStream

from . import pipeline
from .conf import default_provider
from .models import GenerationSession, Step, StepStatus

LOCK_SECONDS = 15 * 60


def key(session_id: int) -> str:
    return f"product:{session_id}"


def streams(session: GenerationSession) -> bool:
    """Whether the content step's call can stream (its provider streams)."""
    from llm.errors import LLMConfigurationError
    from llm.calls.streaming import can_stream

    try:
        return can_stream(session.provider_name or default_provider() or None)
    except LLMConfigurationError:
        return False


def should_stream(session: GenerationSession) -> bool:
    return (session.subcategory_id and not session.generated_content
            and session.status_of(Step.GENERATE) in (StepStatus.PENDING, StepStatus.STREAMING) and streams(session))


def hand_over(session: GenerationSession) -> None:
    """Step 3 → 4 with a page that streams: step 4's page runs the call (see ``events``)."""
    session.set_status(Step.GENERATE, StepStatus.STREAMING)
    session.save(update_fields=["step_status", "step_errors", "updated_at"])


def stop(session: GenerationSession) -> None:
    live.request_stop(key(session.pk))


async def events(session_id: int, *, force: bool = False):
    """SSE bytes: the content's chunks as the model writes them, then ``end``."""
    lock = f"llm-live-run:{key(session_id)}"
    if not await sync_to_async(cache.add)(lock, 1, LOCK_SECONDS):
        # Another tab is generating it: wait for that one, then let the page reload.
        for _ in range(LOCK_SECONDS):
            if not await sync_to_async(cache.get)(lock):
                break
            await asyncio.sleep(1)
        yield live.sse("end", {"status": "elsewhere"})
        return
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    gone = threading.Event()
    await sync_to_async(cache.delete)(f"llm-live-stop:{key(session_id)}")

    def post(item) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the page's event loop is gone with the page
            gone.set()

    def on_chunk(text: str, attempt: int) -> None:
        if gone.is_set():
            raise StopStream(cancelled=False)
        if live.stop_requested(key(session_id)):
            raise StopStream(cancelled=True)
        post(("chunk", {"t": text, "attempt": attempt}))

    def work() -> None:
        close_old_connections()
        try:
            session = GenerationSession.objects.select_related("owner").get(pk=session_id)
            pipeline.run_generate(session, force=force, stream_to=on_chunk)
            session.refresh_from_db()
            status = session.status_of(Step.GENERATE)
            post(("done", {"status": status}))
        except Exception as exc:  # never leave the page waiting
            post(("error", {"message": f"{type(exc).__name__}: {exc}"}))
        finally:
            cache.delete(lock)
            connection.close()

    thread = threading.Thread(target=work, name=f"product-content-{session_id}", daemon=True)
    thread.start()
    attempt = 0
    try:
        yield b": connected\n\n"
        while True:
            kind, data = await queue.get()
            if kind == "chunk" and data["attempt"] != attempt:
                attempt = data["attempt"]
                yield live.sse("reset")
            yield live.sse(kind, data)
            if kind in ("done", "error"):
                yield live.sse("end", {"status": kind})
                return
    finally:
        gone.set()  # the page went away (or the stream ended): the next chunk stops the call
