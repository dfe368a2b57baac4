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

Each provider's own stream class (``OpenAIStream``, ``AnthropicStream``, ``GeminiStream``) lives in
its provider module, beside the request it streams; this module holds what they share.
"""

from typing import Iterator

from ..errors import ProviderCallError
from .base import ProviderResponse, Usage, sdk_error_detail


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
