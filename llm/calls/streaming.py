"""``stream()``: ``complete()`` whose answer arrives piece by piece.

``llm.stream(...)`` takes the same arguments as ``complete()`` and returns a ``Stream``: iterate
it for the text as the provider sends it; once it is exhausted, ``stream.result`` is the
``Completion`` that ``complete()`` would have returned (text, parsed value, usage, cost, query id,
interaction file). Every attempt is one ``LLMQuery`` row, written before the request and
updated at the end with the usage the provider reported at the end of the stream.

A stream that does not run to its end is logged with the text that had arrived:

* ``interrupted``: the provider closed the connection early or sent an error event mid-stream
  (raises ``LLMStreamInterrupted``);
* ``cancelled``: the caller called ``stream.cancel()`` (a Stop button);
* ``client_closed``: the caller dropped or closed the iterator without cancelling (the browser
  tab that was reading it went away).

The provider's HTTP response is closed in all three cases, so it stops generating. Its cost is
what the provider reported, or, when it reported nothing, our token count of the prompt and the
partial text, priced the usual way and flagged ``usage_estimated``.

Structured output is validated once the answer is complete, with the usual re-ask: the next
attempt streams too, and ``stream.attempt`` goes up so a page can clear what it showed.
Cache hits and pasted answers come out as one chunk. Retries of transient failures happen only
before the first chunk (a stream that broke after text was shown is not silently restarted).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

from django.conf import settings

from . import outcomes, structured
from ..errors import LLMConfigurationError, LLMError, LLMInvalidOutputError, LLMStreamInterrupted, ProviderCallError
from .tokens import count_input_tokens
from ..models import LLMModel, LLMProvider, LLMQuery
from ..providers import ProviderResponse, Usage, client_for
from ..providers.streams import StreamInterrupted
from .retry import ms_since, with_retries
from . import tokens

logger = logging.getLogger(__name__)


class Stream:
    """An iterator of text chunks; ``result`` once exhausted (see the module docstring)."""

    def __init__(self, call, schema, retries: int, cache: bool, cache_ttl: int | None):
        self._call = call
        self._schema = schema
        self._retries = retries
        self._use_cache = cache
        self._cache_ttl = cache_ttl
        self.result = None  # llm.calls.service.Completion once finished
        self.attempt = 0  # goes up when a structured answer is re-asked: what was shown so far is void
        self.text = ""  # the current attempt's text so far
        self.query_id: int | None = None  # the current attempt's row
        self.first_chunk_ms: int | None = None
        self._close_status = LLMQuery.Status.CLIENT_CLOSED
        self._close_reason = "The reader of the stream went away before the answer was finished."
        self._gen = self._run()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def cancel(self, reason: str = "Stopped by the user.") -> None:
        """Stop now (a Stop button): the provider request is closed, the row says ``cancelled``."""
        self._close_status, self._close_reason = LLMQuery.Status.CANCELLED, reason
        self._gen.close()

    def close(self) -> None:
        """Drop the stream unfinished (the page went away): the row says ``client_closed``."""
        self._gen.close()

    @property
    def finished(self) -> bool:
        return self.result is not None

    # ----------------------------------------------------------------------------------------
    def _run(self) -> Iterator[str]:
        from .service import Completion, _from_cache, _manual, retry_prompt

        call = self._call
        if call.provider.kind == LLMProvider.Kind.MANUAL:
            self.result = _manual(call, self._schema)  # raises ManualAnswerPending until pasted
            self.query_id = self.result.query_id
            self.text = self.result.text
            yield self.result.text
            return
        if self._use_cache and settings.LLM_CACHE_ENABLED:
            hit = _from_cache(call, self._schema, overlap=False)
            if hit is not None:
                self.result, self.query_id, self.text = hit, hit.query_id, hit.text
                yield hit.text
                return
        conversation = list(call.messages)
        for round_no in range(self._retries + 1):
            self.attempt = round_no
            self.text = ""
            pstream, row, started = with_retries(lambda: self._open_once(conversation))
            self.query_id = row.pk
            response = yield from self._relay(pstream, row, conversation, started)
            latency = ms_since(started)
            estimated = self._fill_usage(row, response, conversation)
            if outcomes.is_terminal(response):
                status, error, exc = outcomes.terminal(response, provider=call.provider.name, model=call.model.name,
                                                       limit=call.max_tokens, query_id=row.pk)
                call.finish_row(row, messages=conversation, response=response, status=status, error=error,
                                latency_ms=latency, http_status=200)
                raise exc
            parsed: Any = None
            if call.json_schema is not None:
                outcome = structured.parse(response.text, self._schema)
                if not outcome.ok:
                    call.finish_row(row, messages=conversation, response=response,
                                    status=LLMQuery.Status.INVALID_OUTPUT, error=outcome.error, latency_ms=latency,
                                    http_status=200)
                    if round_no == self._retries:
                        raise LLMInvalidOutputError(
                            f"{call.provider.name}/{call.model.name} gave an answer that does not fit the schema "
                            f"{call.schema_name} after {self._retries + 1} tries (last query #{row.pk}): {outcome.error}",
                            last_text=response.text, query_id=row.pk,
                        )
                    conversation = conversation + [
                        {"role": "assistant", "content": response.text},
                        {"role": "user", "content": retry_prompt(outcome.error)},
                    ]
                    continue
                parsed = outcome.value
            call.finish_row(row, messages=conversation, response=response, status=LLMQuery.Status.OK,
                            latency_ms=latency, http_status=200,
                            cache_answer=settings.LLM_CACHE_ENABLED and not estimated, cache_ttl=self._cache_ttl)
            self.result = Completion(
                text=response.text, parsed=parsed, usage=response.usage, cost_usd=row.cost_usd, query_id=row.pk,
                provider=call.provider.name, model=call.model.name, latency_ms=latency, file_path=row.file_path,
                attempts=call.attempt, query_ids=call.query_ids,
            )
            return
        raise AssertionError("unreachable")  # pragma: no cover

    def _open_once(self, messages: list[dict]):
        """One attempt's row, admission and the opened stream (like ``_Call.attempt_once``)."""
        call = self._call
        row = call.new_row(LLMQuery.Status.STARTED)
        client = client_for(call.provider, api_key=call.api_key)
        client.prepare()
        call._admit(row, messages)
        request = call.request_for(messages)
        started = time.monotonic()
        try:
            try:
                pstream = client.stream(request)
            finally:
                call._release_lease()  # held while the request is being sent, like a plain call
        except ProviderCallError as exc:
            call.finish_row(row, messages=messages, response=None, status=exc.status, error=str(exc),
                            latency_ms=ms_since(started), http_status=exc.http_status)
            exc.query_id = row.pk
            raise
        except NotImplementedError as exc:
            call.finish_row(row, messages=messages, response=None, status=LLMQuery.Status.ERROR, error=str(exc),
                            latency_ms=0)
            raise LLMConfigurationError(str(exc), query_id=row.pk) from exc
        except Exception as exc:
            call.finish_row(row, messages=messages, response=None, status=LLMQuery.Status.ERROR,
                            error=f"{type(exc).__name__}: {exc}", latency_ms=ms_since(started))
            raise LLMError(f"{call.provider.name} stream failed to open: {type(exc).__name__}: {exc}",
                           query_id=row.pk) from exc
        return pstream, row, started

    def _relay(self, pstream, row: LLMQuery, conversation: list[dict], started: float):
        """Yield the provider's chunks; log the row when the stream ends early. Returns the response."""
        call = self._call
        try:
            for delta in pstream:
                if self.first_chunk_ms is None:
                    self.first_chunk_ms = ms_since(started)
                self.text += delta
                yield delta
        except GeneratorExit:  # cancel() or close(): the reader stopped
            pstream.close()
            self._finish_partial(row, conversation, pstream.text, None, self._close_status, self._close_reason, started)
            raise
        except StreamInterrupted as exc:
            pstream.close()
            self._finish_partial(row, conversation, exc.partial_text, exc.usage, LLMQuery.Status.INTERRUPTED, str(exc),
                                 started)
            raise LLMStreamInterrupted(f"{exc} (query #{row.pk}); the partial answer is logged, try again.",
                                       partial_text=exc.partial_text, query_id=row.pk) from exc
        except BaseException as exc:
            pstream.close()
            self._finish_partial(row, conversation, pstream.text, None, LLMQuery.Status.ERROR,
                                 f"{type(exc).__name__}: {exc}", started)
            raise
        return pstream.response

    def _fill_usage(self, row: LLMQuery, response: ProviderResponse, conversation: list[dict]) -> bool:
        """Estimate the usage when the provider reported none; True when it is an estimate."""
        if response.raw.get("usage_reported", True):
            return False
        response.usage = self._estimate(conversation, response.text)
        row.usage_estimated = True
        return True

    def _estimate(self, conversation: list[dict], text: str) -> Usage:
        return Usage(input_tokens=count_input_tokens(conversation, self._call.json_schema),
                     output_tokens=tokens.count_text(text))

    def _finish_partial(self, row, conversation, text: str, usage: Usage | None, status: str, error: str,
                        started: float) -> None:
        # The provider reports the output count at the end, so an unfinished stream's output is
        # always our count of the text that arrived; the input is the provider's when it said it
        # at the start (Anthropic's message_start), else ours too.
        counted = self._estimate(conversation, text)
        if usage is not None and usage.input_tokens:
            counted.input_tokens, counted.cached_input_tokens = usage.input_tokens, usage.cached_input_tokens
            counted.cache_write_input_tokens = usage.cache_write_input_tokens
            counted.cache_write_1h_input_tokens = usage.cache_write_1h_input_tokens
        row.usage_estimated = estimated = True
        response = ProviderResponse(text=text, usage=counted, finish_reason="",
                                    raw={"streamed": True, "partial": True, "input_reported": bool(usage)})
        try:
            self._call.finish_row(row, messages=conversation, response=response, status=status,
                                  error=error + (" Tokens and cost are an estimate: the stream ended before the "
                                                 "provider reported its usage." if estimated else ""),
                                  latency_ms=ms_since(started), http_status=200)
        except Exception:  # never hide why the stream ended behind a logging failure
            logger.exception("Could not log the unfinished stream of query %s", row.pk)


def stream(
    *,
    purpose: str,
    messages: list[dict] | None = None,
    prompt: str | None = None,
    system: str | None = None,
    model: "LLMModel | str | None" = None,
    provider: "LLMProvider | str | None" = None,
    schema=None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    user=None,
    run=None,
    interaction_type: str = "",
    batch: int | None = None,
    context: dict | None = None,
    api_key: str | None = None,
    validation_retries: int | None = None,
    template_version: str = "",
    cache: bool = True,
    cache_ttl: int | None = None,
    prompt_cache: "bool | str" = True,
) -> Stream:
    """``complete()``, streamed, with its arguments (all but ``delivered``, which only a provider batch
    makes): see the module docstring. Raises what ``complete()`` raises, plus
    ``LLMStreamInterrupted`` when the provider's stream broke off."""
    from .service import prepare_call

    # The same checks and the same _Call as complete() (llm/calls/service.py), so both log alike.
    call = prepare_call(
        purpose=purpose, messages=messages, prompt=prompt, system=system, model=model, provider=provider,
        schema=schema, max_tokens=max_tokens, temperature=temperature, user=user, run=run,
        interaction_type=interaction_type, batch=batch, context=context, api_key=api_key,
        template_version=template_version, prompt_cache=prompt_cache,
    )
    retries = settings.LLM_VALIDATION_RETRIES if validation_retries is None else validation_retries
    return Stream(call, schema, retries, cache, cache_ttl)


def can_stream(provider: "LLMProvider | str | None") -> bool:
    """Whether calls to this provider stream (every SDK-backed kind; not the copy/paste tier)."""
    from ..providers import get_provider

    return get_provider(provider).kind in STREAMING_KINDS


STREAMING_KINDS = frozenset({"openai", "openai_compatible", "anthropic", "gemini"})
