"""Streamed answers: each provider's official SDK streaming API, as an iterator of text deltas.

A ``ProviderStream`` yields the answer's text as it arrives and, once the provider has said the
answer is finished, holds the same ``ProviderResponse`` a plain call returns (text, usage,
finish reason). The provider reports usage at the end of a stream (OpenAI in the last chunk with
``stream_options.include_usage``, Anthropic in ``message_start``/``message_delta``, Gemini in
``usageMetadata``); ``usage_reported`` says whether it did.

Two ways a stream can end early, both ``StreamInterrupted`` with the text so far:
the connection closed before the end (no finish reason), or the provider sent an error event
in the middle (Anthropic's ``overloaded_error``). ``close()`` closes the HTTP response, which is
how a Stop button or a closed tab ends the provider's request.
"""

import json
from typing import Iterator

import anthropic
import openai

from ..errors import ProviderCallError
from .base import ProviderRequest, ProviderResponse, Usage, sdk_error_detail, translate_sdk_errors


class StreamInterrupted(Exception):
    """The stream stopped before the provider said the answer was finished."""

    def __init__(self, message: str, *, partial_text: str, usage: Usage | None = None):
        super().__init__(message)
        self.partial_text = partial_text
        self.usage = usage


class ProviderStream:
    """Iterate for text deltas; then ``response`` is the finished answer."""

    label = "provider"

    def __init__(self, sdk_stream, model: str):
        self._sdk_stream = sdk_stream
        self.model = model
        self.parts: list[str] = []
        self.response: ProviderResponse | None = None
        self.usage_reported = False
        self.chunks = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def __iter__(self) -> Iterator[str]:
        try:
            for delta in self._deltas():
                if delta:
                    self.parts.append(delta)
                    self.chunks += 1
                    yield delta
        except StreamInterrupted:
            raise
        except ProviderCallError:
            raise
        except Exception as exc:  # the connection broke, or an error event arrived mid-stream
            raise StreamInterrupted(
                f"{self.label} stream for model {self.model!r} broke off: {self._describe(exc)}",
                partial_text=self.text, usage=self._usage_so_far(),
            ) from exc
        if self.response is None:
            raise StreamInterrupted(
                f"{self.label} closed the stream for model {self.model!r} before the answer was finished "
                f"(no finish reason after {self.chunks} chunks).",
                partial_text=self.text, usage=self._usage_so_far(),
            )

    def _describe(self, exc: BaseException) -> str:
        detail = sdk_error_detail(exc) if getattr(exc, "body", None) is not None else str(exc)
        kind = getattr(exc, "type", None) or ""
        return f"{kind}: {detail}" if kind and kind not in detail else (detail or type(exc).__name__)

    def _usage_so_far(self) -> Usage | None:
        return None

    def _deltas(self) -> Iterator[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Close the HTTP response: the provider sees the client go away and stops generating."""
        closer = getattr(self._sdk_stream, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:  # closing a broken connection may raise; it is closed either way
                pass


class OpenAIStream(ProviderStream):
    label = "OpenAI"

    def __init__(self, sdk_stream, model: str, *, json_schema: bool):
        super().__init__(sdk_stream, model)
        self.finish = ""
        self.refusal: list[str] = []
        self.usage = Usage()
        self.last: dict = {}

    def _deltas(self) -> Iterator[str]:
        from .openai_provider import _stop_of

        for chunk in self._sdk_stream:
            self.last = {"id": chunk.id, "model": chunk.model}
            if chunk.usage is not None:
                self.usage_reported = True
                u = chunk.usage
                details = getattr(u, "prompt_tokens_details", None)
                out_details = getattr(u, "completion_tokens_details", None)
                self.usage = Usage(
                    input_tokens=u.prompt_tokens or 0,
                    cached_input_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
                    output_tokens=u.completion_tokens or 0,
                    reasoning_tokens=(getattr(out_details, "reasoning_tokens", 0) or 0) if out_details else 0,
                )
            for choice in chunk.choices or []:
                if choice.index:
                    continue
                delta = choice.delta
                if delta is not None:
                    if getattr(delta, "refusal", None):
                        self.refusal.append(delta.refusal)
                    if delta.content:
                        yield delta.content
                    for call in getattr(delta, "tool_calls", None) or []:
                        if call.function is not None and call.function.arguments:
                            yield call.function.arguments
                if choice.finish_reason:
                    self.finish = choice.finish_reason
        if not self.finish:
            return  # no finish reason: cut off (raised by __iter__)
        stop, detail = _stop_of(self.finish, "".join(self.refusal) or None)
        self.response = ProviderResponse(
            text=self.text, usage=self.usage, truncated=self.finish == "length", finish_reason=self.finish,
            raw={**self.last, "streamed": True, "chunks": self.chunks, "usage_reported": self.usage_reported},
            stop=stop, stop_detail=detail,
        )


def open_openai(provider, request: ProviderRequest) -> OpenAIStream:
    kwargs: dict = {
        **provider.body_for(request),  # the same body as an interactive call or a batch line
        "stream": True,
        # Without it the stream carries no usage at all (openai-python
        # src/openai/types/chat/chat_completion_stream_options_param.py).
        "stream_options": {"include_usage": True},
    }
    with translate_sdk_errors(openai, provider.label, request.model):
        sdk_stream = provider.client().chat.completions.create(**kwargs)
    return OpenAIStream(sdk_stream, request.model, json_schema=request.json_schema is not None)


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
        from .anthropic_provider import _cache_writes_by_lifetime, _stop_of

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


class GeminiStream(ProviderStream):
    label = "Google Gemini"

    def __init__(self, sdk_stream, model: str, client):
        super().__init__(sdk_stream, model)
        self._client = client  # a dropped genai.Client closes its connection pool: keep it while streaming
        self.finish = ""
        self.um = None
        self.last = None
        self.function_args: list[str] = []

    def _deltas(self) -> Iterator[str]:
        for response in self._sdk_stream:
            self.last = response
            if response.usage_metadata is not None:
                self.um = response.usage_metadata
            candidate = response.candidates[0] if response.candidates else None
            if candidate is not None and candidate.content and candidate.content.parts:
                for part in candidate.content.parts:
                    if getattr(part, "thought", False):
                        continue
                    if part.text:
                        yield part.text
                    elif getattr(part, "function_call", None) is not None:
                        yield json.dumps(part.function_call.args or {}, ensure_ascii=False)
            if candidate is not None and candidate.finish_reason:
                from .gemini_provider import _enum_text

                self.finish = _enum_text(candidate.finish_reason)
            if candidate is None and response.prompt_feedback is not None and response.prompt_feedback.block_reason:
                self.finish = "BLOCKED"
        if not self.finish:
            return
        um = self.um
        self.usage_reported = um is not None and um.prompt_token_count is not None
        thoughts = (um.thoughts_token_count or 0) if um else 0
        from .gemini_provider import BLOCKING_FINISH_REASONS, _enum_text
        from .base import STOP_BLOCKED

        stop, detail = "", ""
        feedback = self.last.prompt_feedback if self.last is not None else None
        if feedback is not None and feedback.block_reason:
            stop, detail = STOP_BLOCKED, f"the prompt was blocked ({_enum_text(feedback.block_reason)})"
            self.finish = _enum_text(feedback.block_reason)
        elif self.finish in BLOCKING_FINISH_REASONS:
            stop, detail = STOP_BLOCKED, f"the answer was blocked ({self.finish})"
        self.response = ProviderResponse(
            text=self.text,
            usage=Usage(
                input_tokens=(um.prompt_token_count or 0) if um else 0,
                cached_input_tokens=(um.cached_content_token_count or 0) if um else 0,
                output_tokens=((um.candidates_token_count or 0) + thoughts) if um else 0,
                reasoning_tokens=thoughts,
            ),
            truncated=self.finish == "MAX_TOKENS", finish_reason=self.finish,
            raw={"response_id": getattr(self.last, "response_id", None), "model": self.model, "streamed": True,
                 "chunks": self.chunks, "usage_reported": self.usage_reported},
            stop=stop, stop_detail=detail,
        )

    def close(self) -> None:
        closer = getattr(self._sdk_stream, "close", None)  # a generator: close() runs its finally (closes the response)
        if callable(closer):
            try:
                closer()
            except Exception:
                pass


def open_gemini(provider, request: ProviderRequest) -> GeminiStream:
    from .gemini_provider import _translate_errors

    contents, config = provider.contents_and_config(request)  # the same request as an interactive call
    client = provider.client()
    with _translate_errors(provider.label, request.model):
        iterator = client.models.generate_content_stream(
            model=request.model, contents=contents, config=config
        )
        # The request goes out on the first next(): pull the first chunk here, so an HTTP error is a
        # ProviderCallError (retried like a plain call) and not a broken stream.
        first = next(iterator, None)

    def chained():
        if first is not None:
            yield first
        try:
            yield from iterator
        finally:
            iterator.close()

    stream = GeminiStream(chained(), request.model, client)
    return stream
