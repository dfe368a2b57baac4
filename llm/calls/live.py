"""Live generation: the chunks of a streamed answer, from where the call runs to the page.

The work may run on a Celery worker (artifacts, playground jobs): the worker ``publish``es each
chunk over Redis pub/sub, and the page's server-sent-events view (``sse_response``) subscribes
with ``redis.asyncio``. Each event is also appended to a short replay list, so a page that
subscribes after the first chunks (or reconnects) gets them too; events carry a sequence
number, so none is shown twice. Without Redis (``make run``'s filesystem broker) ``enabled()``
is False and the pages poll as before.

A Stop button calls ``request_stop(key)``; the code relaying the stream checks ``stop_requested``
between chunks and cancels the stream (llm/streaming.py closes the provider request and logs
the row ``cancelled``). The flag is kept in Django's cache (Redis, or the file cache in
development), so it reaches a worker in another process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import AsyncIterator, Awaitable, Callable

from django.conf import settings
from django.core.cache import cache
from django.http import StreamingHttpResponse

from ..errors import LLMError

logger = logging.getLogger(__name__)

BUFFER_TTL = 15 * 60  # seconds a finished stream's events stay replayable
STOP_TTL = 60 * 60
KEEPALIVE_EVERY = 15.0  # seconds between SSE comments while nothing happens (proxies close idle streams)
END_EVENTS = frozenset({"done", "error", "cancelled"})


class LLMStreamCancelled(LLMError):
    """The stream was stopped on request (``request_stop``); nothing of it is an answer."""

    def __init__(self, message: str = "Stopped by the user.", *, partial_text: str = "", query_id: int | None = None):
        super().__init__(message, query_id=query_id)
        self.partial_text = partial_text


class StopStream(Exception):
    """Raised by a chunk callback to end a stream it relays: ``cancelled`` for a Stop button,
    else the reader went away (``client_closed``)."""

    def __init__(self, cancelled: bool):
        super().__init__("Stopped by the user." if cancelled else "The page was closed.")
        self.cancelled = cancelled


def consume(stream, on_chunk) -> object:
    """Feed each chunk of an ``llm.stream`` to ``on_chunk(text, attempt)`` in this thread; a
    ``StopStream`` from it cancels or closes the stream (and is raised on). Returns the result."""
    try:
        for chunk in stream:
            on_chunk(chunk, stream.attempt)
    except StopStream as stop:
        if stop.cancelled:
            stream.cancel()
        else:
            stream.close()
        raise
    return stream.result


def enabled() -> bool:
    """Streaming to pages needs Redis (pub/sub between the worker and the web process)."""
    return bool(getattr(settings, "LLM_LIVE_ENABLED", True) and settings.REDIS_URL)


def _channel(key: str) -> str:
    return f"llm:live:{key}"


def _buffer(key: str) -> str:
    return f"llm:live:{key}:events"


def _seq(key: str) -> str:
    return f"llm:live:{key}:seq"


def _stop_key(key: str) -> str:
    return f"llm-live-stop:{key}"


def request_stop(key: str) -> None:
    cache.set(_stop_key(key), True, STOP_TTL)


def stop_requested(key: str) -> bool:
    return bool(cache.get(_stop_key(key)))


def clear(key: str) -> None:
    """Forget a key's replayable events (a retried task starts its page's stream afresh). The stop
    flag stays: a Stop pressed between the claim and the first chunk still stops the call."""
    if enabled():
        _redis().delete(_buffer(key), _seq(key))


_client = None


def _redis():
    global _client
    import redis

    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


class Publisher:
    """The producing side of one key's channel (no-op when live streaming is off)."""

    def __init__(self, key: str):
        self.key = key
        self.seq = 0
        self.active = enabled()

    def send(self, event: str, **data) -> None:
        if not self.active:
            return
        try:
            # One sequence per key across publishers (the relay, then the code that stores the
            # answer and says "done"), so a subscriber's de-duplication never drops an event.
            self.seq = _redis().incr(_seq(self.key))
            message = json.dumps({"seq": self.seq, "event": event, "data": data}, ensure_ascii=False)
            pipe = _redis().pipeline(transaction=False)
            pipe.rpush(_buffer(self.key), message)
            pipe.expire(_buffer(self.key), BUFFER_TTL)
            pipe.expire(_seq(self.key), BUFFER_TTL)
            pipe.publish(_channel(self.key), message)
            pipe.execute()
        except Exception:  # Redis down: the page falls back to polling, the answer is still stored
            logger.warning("Could not publish a live event for %s", self.key, exc_info=True)
            self.active = False


def relay(stream, key: str, publisher: Publisher | None = None):
    """Consume an ``llm.stream`` on the worker, publishing each chunk; cancel it on a Stop.

    Returns the stream's result. Raises ``LLMStreamCancelled`` after a Stop, and whatever the
    stream raised otherwise (after publishing an ``error`` event). The caller stores the answer
    and then publishes ``done`` (so the page refreshes to the stored version).
    """
    pub = publisher or Publisher(key)
    attempt = 0
    try:
        for chunk in stream:
            if stream.attempt != attempt:
                attempt = stream.attempt
                pub.send("reset")  # a structured answer is being re-asked: what was shown is void
            pub.send("chunk", t=chunk)
            if stop_requested(key):
                partial = stream.text
                stream.cancel()
                pub.send("cancelled", message="Stopped.")
                raise LLMStreamCancelled(partial_text=partial, query_id=stream.query_id)
    except LLMStreamCancelled:
        raise
    except LLMError as exc:
        pub.send("error", message=str(exc))
        raise
    return stream.result


# --------------------------------------------------------------------------------------------
# The page's side: server-sent events from an async view
# --------------------------------------------------------------------------------------------
def sse(event: str, data: dict | None = None) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data or {}, ensure_ascii=False)}\n\n".encode("utf-8")


def sse_response(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def subscribe(key: str, *, is_finished: Callable[[], Awaitable[bool]], limit: float = 15 * 60,
                    poll: float = 1.0) -> AsyncIterator[bytes]:
    """SSE bytes for one key: the replayed events, then the live ones, until an end event.

    ``is_finished`` is asked whenever nothing arrived for ``poll`` seconds: work that finished
    without streaming (or before the page subscribed and after the replay list expired) ends
    the stream with an ``end`` event, and the page shows the stored result.
    """
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    loop = asyncio.get_running_loop()
    started = loop.time()
    quiet_since = started
    try:
        await pubsub.subscribe(_channel(key))  # first: nothing published from here on is missed
        last = 0
        yield b": connected\n\n"
        for raw in await client.lrange(_buffer(key), 0, -1):
            event = json.loads(raw)
            last = event["seq"]
            yield sse(event["event"], event["data"])
            if event["event"] in END_EVENTS:
                yield sse("end", {"status": event["event"]})
                return
        while loop.time() - started < limit:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=poll)
            if message is None:
                if await is_finished():
                    yield sse("end", {"status": "finished"})
                    return
                if loop.time() - quiet_since >= KEEPALIVE_EVERY:
                    quiet_since = loop.time()
                    yield b": keepalive\n\n"
                continue
            event = json.loads(message["data"])
            if event["seq"] <= last:
                continue
            last = event["seq"]
            quiet_since = loop.time()
            yield sse(event["event"], event["data"])
            if event["event"] in END_EVENTS:
                yield sse("end", {"status": event["event"]})
                return
        yield sse("end", {"status": "timeout"})
    finally:
        try:
            await pubsub.unsubscribe()
            await pubsub.aclose()
            await client.aclose()
        except Exception:  # the client went away mid-cleanup: nothing left to release
            pass
