import json
from typing import Iterator

import anthropic

from .base import (
    send_hooks,
    STOP_CONTEXT, STOP_PAUSED, STOP_REFUSED, Provider, ProviderRequest, ProviderResponse, Usage, cached_client,
    translate_sdk_errors,
)
from .streams import ProviderStream


class AnthropicProvider(Provider):
    kind = "anthropic"
    label = "Anthropic"
    settles_before_send = True

    def client(self) -> anthropic.Anthropic:
        return cached_client(
            self.kind, self.base_url, self.api_key, self.timeout,
            lambda: anthropic.Anthropic(
                api_key=self.api_key or "not-needed", base_url=self.base_url, timeout=self.timeout, max_retries=0,
                http_client=anthropic.DefaultHttpxClient(event_hooks=send_hooks()),
            ),
        )

    def execute(self, request: ProviderRequest) -> ProviderResponse:
        kwargs = self.params_for(request)
        with translate_sdk_errors(anthropic, self.label, request.model):
            raw = self.client().messages.with_raw_response.create(**kwargs)
            message = raw.parse()
        return self.response_of(message, raw.http_response.status_code)

    def params_for(self, request: ProviderRequest) -> dict:
        """The Messages API parameters of a request (also a batch request's ``params``)."""
        kwargs: dict = {"model": request.model, "max_tokens": request.max_tokens}
        kwargs["messages"], kwargs["system"] = _with_cache_breakpoints(request)
        if not kwargs["system"]:
            del kwargs["system"]
        # No temperature: API version 2026-10-21, which anthropic-sdk-python 2.x sends by default, refuses
        # temperature/top_p/top_k with a 400 ("Extra inputs are not permitted"), and the SDK's create()
        # no longer takes them. A caller's temperature is dropped for Anthropic, not turned into an error.
        if request.json_schema is not None:
            # Forcing one tool whose input schema is ours is Anthropic's native structured output.
            kwargs["tools"] = [
                {"name": request.schema_name, "description": "Return the answer.", "input_schema": request.json_schema}
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": request.schema_name}
        return kwargs

    def response_of(self, message, http_status: int = 200) -> ProviderResponse:
        """A Message (an interactive answer, or a batch result's ``result.message``) as a response."""
        parts = []
        for block in message.content:
            if block.type == "tool_use":
                parts.append(json.dumps(block.input, ensure_ascii=False))
            elif block.type == "text":
                parts.append(block.text)
        u = message.usage
        cache_read = getattr(u, "cache_read_input_tokens", 0) or 0
        cache_write = getattr(u, "cache_creation_input_tokens", 0) or 0
        write_5m, write_1h = _cache_writes_by_lifetime(u, cache_write)
        stop, detail = _stop_of(message)
        return ProviderResponse(
            stop=stop,
            stop_detail=detail,
            text="".join(parts),
            usage=Usage(
                # Anthropic's input_tokens leaves out cache reads and writes; ours counts every input token.
                input_tokens=(u.input_tokens or 0) + cache_read + cache_write,
                cached_input_tokens=cache_read,
                cache_write_input_tokens=write_5m + write_1h,
                cache_write_1h_input_tokens=write_1h,
                output_tokens=u.output_tokens or 0,  # thinking included ("the inclusive, authoritative total")
                reasoning_tokens=getattr(getattr(u, "output_tokens_details", None), "thinking_tokens", 0) or 0,
            ),
            truncated=message.stop_reason == "max_tokens",
            finish_reason=message.stop_reason or "",
            raw=message.model_dump(mode="json", exclude_none=True),
            http_status=http_status,
        )

    def ping(self) -> str:
        with translate_sdk_errors(anthropic, self.label, "-"):
            page = self.client().models.list(limit=5)
            names = [m.id for m in page.data]
        return f"{self.describe()} answered; models: {', '.join(names) or 'none listed'}"

    def stream(self, request: ProviderRequest):
        """The answer as it arrives (llm/providers/streams.py): Messages with ``stream=True``."""

        return open_anthropic(self, request)


def _cache_writes_by_lifetime(usage, total: int) -> tuple[int, int]:
    """(5-minute, 1-hour) cache writes. ``usage.cache_creation`` splits them (ephemeral_5m_input_tokens,
    ephemeral_1h_input_tokens); without it every write is a 5-minute one, the API's default lifetime."""
    split = getattr(usage, "cache_creation", None)
    if split is None:
        return total, 0
    five = getattr(split, "ephemeral_5m_input_tokens", None) or 0
    hour = getattr(split, "ephemeral_1h_input_tokens", None) or 0
    if not (five or hour):
        return total, 0
    return five, hour


def _stop_of(message) -> tuple[str, str]:
    """(ProviderResponse.stop, its reason) of a Message's ``stop_reason`` (anthropic-sdk-python
    src/anthropic/types/stop_reason.py; the refusal's ``stop_details`` in refusal_stop_details.py)."""
    reason = message.stop_reason or ""
    if reason == "refusal":
        details = getattr(message, "stop_details", None)
        words = [str(w) for w in (getattr(details, "category", None), getattr(details, "explanation", None)) if w]
        return STOP_REFUSED, ": ".join(words) or "Claude declined to answer (stop_reason refusal)"
    if reason == "model_context_window_exceeded":
        return STOP_CONTEXT, "the model's context window filled up before the answer was finished"
    if reason == "pause_turn":
        return STOP_PAUSED, "Anthropic paused the long-running turn before the answer was finished (stop_reason pause_turn)"
    return "", ""


MAX_BREAKPOINTS = 4  # "You can define up to 4 cache breakpoints" (Anthropic prompt caching guide)


def _cache_control(ttl: str) -> dict:
    # CacheControlEphemeralParam (anthropic-sdk-python src/anthropic/types/cache_control_ephemeral_param.py):
    # ttl "5m" (the default, left out) or "1h"; no beta header in SDK 2.x.
    return {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": ttl}


def _split_block(block: dict, offset: int, ttl: str) -> list[dict]:
    """A text block cut where its stable prefix ends, the breakpoint on the first half."""
    text = block["text"]
    head = {"type": "text", "text": text[:offset], "cache_control": _cache_control(ttl)}
    return [head] + ([{"type": "text", "text": text[offset:]}] if text[offset:] else [])


def _with_cache_breakpoints(request: ProviderRequest) -> tuple[list[dict], "str | list[dict]"]:
    """(messages, system) in Anthropic's shape, with a ``cache_control`` breakpoint at the end of each
    marked stable prefix (the last four; a breakpoint caches everything before it, system included).
    The text is the same as without breakpoints: blocks are cut, never changed."""
    chat_index = {i: n for n, i in enumerate(i for i, m in enumerate(request.messages) if m["role"] != "system")}
    messages = [_anthropic_message(m) for m in request.chat_messages]
    system: "str | list[dict]" = request.system_text
    points = [p for p in request.cache_points if p.offset > 0][-MAX_BREAKPOINTS:]
    if any(p.message in chat_index for p in points):
        points = [p for p in points if p.message in chat_index]  # the system comes before them: cached anyway
    elif points and system:
        # Only the system prompt is marked (it is all stable): one breakpoint at its end.
        return messages, [{"type": "text", "text": system, "cache_control": _cache_control(points[-1].ttl)}]
    for point in sorted(points, key=lambda p: (p.message, p.part or 0), reverse=True):
        message = messages[chat_index[point.message]]
        content = message["content"]
        if isinstance(content, str):
            blocks = _split_block({"type": "text", "text": content}, point.offset, point.ttl)
        else:
            blocks = list(content)
            blocks[point.part:point.part + 1] = _split_block(content[point.part], point.offset, point.ttl)
        messages[chat_index[point.message]] = {"role": message["role"], "content": blocks}
    return messages, system


def _anthropic_message(message: dict) -> dict:
    content = message["content"]
    if isinstance(content, str):
        return message
    parts = [
        {"type": "text", "text": p["text"]} if p["type"] == "text"
        else {"type": "image", "source": {"type": "base64", "media_type": p["media_type"], "data": p["data"]}}
        for p in content
    ]
    return {"role": message["role"], "content": parts}


# ----- streaming (llm/providers/streams.py) ------------------------------------------------ #
class AnthropicStream(ProviderStream):
    label = "Anthropic"

    def __init__(self, sdk_stream, model: str):
        super().__init__(sdk_stream, model)
        self.input = {"input_tokens": 0, "cache_read": 0, "cache_write": 0, "write_1h": 0}
        self.output_tokens = 0
        self.thinking = 0
        self.stop_reason = ""
        self.stop_details = None
        self.message_id = ""
        self.finished = False
        self.saw_start_usage = False

    def _usage(self) -> Usage:
        i = self.input
        return Usage(
            input_tokens=i["input_tokens"] + i["cache_read"] + i["cache_write"], cached_input_tokens=i["cache_read"],
            cache_write_input_tokens=i["cache_write"], cache_write_1h_input_tokens=i["write_1h"],
            output_tokens=self.output_tokens, reasoning_tokens=self.thinking,
        )

    def _usage_so_far(self) -> Usage | None:
        return self._usage() if self.saw_start_usage else None

    def _deltas(self) -> Iterator[str]:

        for event in self._sdk_stream:
            kind = event.type
            if kind == "message_start":
                self.message_id = event.message.id
                u = getattr(event.message, "usage", None)
                if u is not None and getattr(u, "input_tokens", None) is not None:
                    self.saw_start_usage = True
                    write = getattr(u, "cache_creation_input_tokens", 0) or 0
                    five, hour = _cache_writes_by_lifetime(u, write)
                    self.input = {"input_tokens": u.input_tokens or 0,
                                  "cache_read": getattr(u, "cache_read_input_tokens", 0) or 0,
                                  "cache_write": five + hour, "write_1h": hour}
            elif kind == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta":
                    yield delta.text
                elif delta.type == "input_json_delta":
                    yield delta.partial_json
            elif kind == "message_delta":
                self.stop_reason = event.delta.stop_reason or ""
                self.stop_details = getattr(event.delta, "stop_details", None)
                u = getattr(event, "usage", None)
                if u is not None and getattr(u, "output_tokens", None) is not None:
                    self.usage_reported = self.saw_start_usage
                    # "The cumulative number of output tokens" (anthropic-sdk-python message_delta_usage.py).
                    self.output_tokens = u.output_tokens or 0
                    details = getattr(u, "output_tokens_details", None)
                    self.thinking = (getattr(details, "thinking_tokens", 0) or 0) if details else 0
            elif kind == "message_stop":
                self.finished = True
        if not self.finished:
            return

        class _Message:  # what _stop_of reads from a Message
            stop_reason = self.stop_reason
            stop_details = self.stop_details

        stop, detail = _stop_of(_Message)
        self.response = ProviderResponse(
            text=self.text, usage=self._usage(), truncated=self.stop_reason == "max_tokens",
            finish_reason=self.stop_reason,
            raw={"id": self.message_id, "model": self.model, "stop_reason": self.stop_reason, "streamed": True,
                 "chunks": self.chunks, "usage_reported": self.usage_reported},
            stop=stop, stop_detail=detail,
        )


def open_anthropic(provider, request: ProviderRequest) -> AnthropicStream:
    # The same parameters as an interactive call (prompt-cache breakpoints and the answer tool included).
    kwargs: dict = {**provider.params_for(request), "stream": True}
    with translate_sdk_errors(anthropic, provider.label, request.model):
        sdk_stream = provider.client().messages.create(**kwargs)
    return AnthropicStream(sdk_stream, request.model)
