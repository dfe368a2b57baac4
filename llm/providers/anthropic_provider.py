import json

import anthropic

from .base import (
    STOP_CONTEXT, STOP_PAUSED, STOP_REFUSED, Provider, ProviderRequest, ProviderResponse, Usage, cached_client,
    translate_sdk_errors,
)


class AnthropicProvider(Provider):
    kind = "anthropic"
    label = "Anthropic"

    def client(self) -> anthropic.Anthropic:
        return cached_client(
            self.kind, self.base_url, self.api_key, self.timeout,
            lambda: anthropic.Anthropic(
                api_key=self.api_key or "not-needed", base_url=self.base_url, timeout=self.timeout, max_retries=0
            ),
        )

    def execute(self, request: ProviderRequest) -> ProviderResponse:
        kwargs: dict = {"model": request.model, "max_tokens": request.max_tokens, "messages": [_anthropic_message(m) for m in request.chat_messages]}
        if request.system_text:
            kwargs["system"] = request.system_text
        # No temperature: API version 2026-10-21, which anthropic-sdk-python 2.x sends by default, refuses
        # temperature/top_p/top_k with a 400 ("Extra inputs are not permitted"), and the SDK's create()
        # no longer takes them. A caller's temperature is dropped for Anthropic, not turned into an error.
        if request.json_schema is not None:
            # Forcing one tool whose input schema is ours is Anthropic's native structured output.
            kwargs["tools"] = [
                {"name": request.schema_name, "description": "Return the answer.", "input_schema": request.json_schema}
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": request.schema_name}
        with translate_sdk_errors(anthropic, self.label, request.model):
            raw = self.client().messages.with_raw_response.create(**kwargs)
            message = raw.parse()
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
            http_status=raw.http_response.status_code,
        )

    def ping(self) -> str:
        with translate_sdk_errors(anthropic, self.label, "-"):
            page = self.client().models.list(limit=5)
            names = [m.id for m in page.data]
        return f"{self.describe()} answered; models: {', '.join(names) or 'none listed'}"

    def stream(self, request: ProviderRequest):
        """The answer as it arrives (llm/providers/streams.py): Messages with ``stream=True``."""
        from .streams import open_anthropic

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
