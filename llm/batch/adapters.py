"""One adapter per provider batch API, each through the provider's official SDK.

The per-request body is the one ``execute()`` would send (the provider class builds it), and a
result is read back by the same code that reads an interactive answer (``response_of``), so a
batch answer and an interactive one are the same ``ProviderResponse``.

Limits, from the providers' documents:

* OpenAI Batch API: "The file can contain up to 50,000 requests, and can be up to 200 MB in
  size" (https://platform.openai.com/docs/api-reference/batch/create, ``input_file_id``), one
  model per file; results in an output file and an error file (``batch_expired`` for requests that
  did not run in the window: https://platform.openai.com/docs/guides/batch).
* Anthropic Message Batches: "limited to either 100,000 Message requests or 256 MB in size,
  whichever is reached first"; ``custom_id`` matches ``^[a-zA-Z0-9_-]{1,64}$``
  (https://platform.claude.com/docs/en/build-with-claude/batch-processing and the API reference of
  ``POST /v1/messages/batches``).
* Gemini batch mode, inlined requests: "suitable for smaller batches that keep the total request
  size under 20MB" (https://ai.google.dev/gemini-api/docs/batch-api); responses come back inlined,
  in request order, each with the request's ``metadata``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone as dt_timezone
from typing import Any, Iterator

from ..errors import ProviderCallError
from ..providers.base import ProviderRequest, ProviderResponse

# Ended means: every request has a result (or never will); nothing more to wait for.
IN_PROGRESS, CANCELLING, ENDED = "in_progress", "cancelling", "ended"
SUCCEEDED, ERRORED, EXPIRED, CANCELED = "succeeded", "errored", "expired", "canceled"


@dataclass
class Status:
    provider_status: str  # the provider's own word
    state: str  # IN_PROGRESS, CANCELLING or ENDED
    counts: dict = field(default_factory=dict)
    expires_at: datetime | None = None
    error: str = ""
    missing_as: str = ERRORED  # what a request without a result is, once ended


@dataclass
class Parsed:
    kind: str  # SUCCEEDED, ERRORED, EXPIRED, CANCELED
    response: ProviderResponse | None = None
    error: str = ""


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) + 1


def _ts(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt_timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=dt_timezone.utc)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class Adapter:
    kind = ""
    max_requests = 0
    max_bytes = 0

    def __init__(self, provider):
        self.provider = provider  # an llm.providers Provider (its SDK client, request building, parsing)

    def entry(self, custom_id: str, request: ProviderRequest) -> tuple[Any, int]:
        """The batch's entry for one request and its size in bytes (for the provider's size limit)."""
        raise NotImplementedError

    def create(self, marker: str, model: str, entries: list) -> tuple[str, datetime | None]:
        raise NotImplementedError

    def find(self, marker: str) -> str | None:
        """The id of a batch created under ``marker`` whose id we never stored (a crash right after
        create), or None."""
        return None

    def retrieve(self, batch_id: str) -> Status:
        raise NotImplementedError

    def results(self, batch_id: str) -> Iterator[tuple[str, dict]]:
        """(custom_id, the provider's result verbatim) for every request that has one."""
        raise NotImplementedError

    def parse(self, raw: dict) -> Parsed:
        raise NotImplementedError

    def cancel(self, batch_id: str) -> None:
        raise NotImplementedError


class OpenAIAdapter(Adapter):
    kind = "openai"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024
    endpoint = "/v1/chat/completions"

    def _sdk(self):
        import openai

        from ..providers.base import translate_sdk_errors

        return openai, translate_sdk_errors

    def entry(self, custom_id, request):
        line = {"custom_id": custom_id, "method": "POST", "url": self.endpoint, "body": self.provider.body_for(request)}
        return line, _json_size(line)

    def create(self, marker, model, entries):
        openai, translate = self._sdk()
        data = b"".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for e in entries)
        client = self.provider.client()
        with translate(openai, "OpenAI Batch API", model):
            uploaded = client.files.create(file=(f"{marker}.jsonl", data, "application/jsonl"), purpose="batch")
            batch = client.batches.create(input_file_id=uploaded.id, endpoint=self.endpoint, completion_window="24h",
                                          metadata={"llm_batch": marker})
        return batch.id, _ts(batch.expires_at)

    def find(self, marker):
        openai, translate = self._sdk()
        with translate(openai, "OpenAI Batch API", "-"):
            page = self.provider.client().batches.list(limit=100)
        for batch in page.data:
            if (batch.metadata or {}).get("llm_batch") == marker:
                return batch.id
        return None

    def retrieve(self, batch_id):
        openai, translate = self._sdk()
        with translate(openai, "OpenAI Batch API", "-"):
            batch = self.provider.client().batches.retrieve(batch_id)
        status = batch.status
        state = {"cancelling": CANCELLING}.get(status, ENDED if status in ("completed", "expired", "cancelled", "failed") else IN_PROGRESS)
        errors = "; ".join(f"{e.code}: {e.message}" for e in ((batch.errors.data or []) if batch.errors else []))
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        missing = {"expired": EXPIRED, "cancelled": CANCELED}.get(status, ERRORED)
        return Status(status, state, counts, _ts(batch.expires_at), errors, missing)

    def results(self, batch_id):
        openai, translate = self._sdk()
        client = self.provider.client()
        with translate(openai, "OpenAI Batch API", "-"):
            batch = client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                content = client.files.content(file_id).content
                for line in content.splitlines():
                    if not line.strip():
                        continue
                    try:
                        raw = json.loads(line)
                    except ValueError:
                        continue  # a torn line: its request stays without a result and is resubmitted
                    if isinstance(raw, dict) and isinstance(raw.get("custom_id"), str):
                        yield raw["custom_id"], raw

    def parse(self, raw):
        response, error = raw.get("response") or {}, raw.get("error") or {}
        if response.get("status_code") == 200 and isinstance(response.get("body"), dict):
            body = json.dumps(response["body"]).encode()
            try:
                return Parsed(SUCCEEDED, self.provider.response_of(body, 200))
            except ProviderCallError as exc:
                return Parsed(ERRORED, error=str(exc))
        code = str(error.get("code") or "")
        if code == "batch_expired":
            return Parsed(EXPIRED, error=error.get("message") or code)
        if code == "batch_cancelled":
            return Parsed(CANCELED, error=error.get("message") or code)
        detail = (response.get("body") or {}).get("error", {}) if isinstance(response.get("body"), dict) else {}
        message = error.get("message") or detail.get("message") or "no answer"
        return Parsed(ERRORED, error=f"OpenAI batch request failed (HTTP {response.get('status_code')}): {message}")

    def cancel(self, batch_id):
        openai, translate = self._sdk()
        with translate(openai, "OpenAI Batch API", "-"):
            self.provider.client().batches.cancel(batch_id)


class AnthropicAdapter(Adapter):
    kind = "anthropic"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def _sdk(self):
        import anthropic

        from ..providers.base import translate_sdk_errors

        return anthropic, translate_sdk_errors

    def entry(self, custom_id, request):
        item = {"custom_id": custom_id, "params": self.provider.params_for(request)}
        return item, _json_size(item)

    def create(self, marker, model, entries):
        anthropic, translate = self._sdk()
        with translate(anthropic, "Anthropic Message Batches", model):
            batch = self.provider.client().messages.batches.create(requests=entries)
        return batch.id, _ts(batch.expires_at)

    # Message Batches carry no metadata: a batch created just before a crash can't be recognised.

    def retrieve(self, batch_id):
        anthropic, translate = self._sdk()
        with translate(anthropic, "Anthropic Message Batches", "-"):
            batch = self.provider.client().messages.batches.retrieve(batch_id)
        status = batch.processing_status
        state = {"ended": ENDED, "canceling": CANCELLING}.get(status, IN_PROGRESS)
        return Status(status, state, batch.request_counts.model_dump(), _ts(batch.expires_at))

    def results(self, batch_id):
        anthropic, translate = self._sdk()
        with translate(anthropic, "Anthropic Message Batches", "-"):
            for entry in self.provider.client().messages.batches.results(batch_id):
                yield entry.custom_id, entry.model_dump(mode="json")

    def parse(self, raw):
        from anthropic.types import Message

        result = raw.get("result") or {}
        kind = result.get("type")
        if kind == "succeeded":
            try:
                message = Message.model_validate(result.get("message") or {})
            except Exception as exc:  # provider output is hostile input
                return Parsed(ERRORED, error=f"The batch result is not a Message: {exc}")
            return Parsed(SUCCEEDED, self.provider.response_of(message, 200))
        if kind == "expired":
            return Parsed(EXPIRED, error="expired before it ran")
        if kind == "canceled":
            return Parsed(CANCELED, error="cancelled")
        error = ((result.get("error") or {}).get("error") or {})
        return Parsed(ERRORED, error=f"Anthropic batch request failed ({error.get('type') or 'error'}): {error.get('message') or 'no answer'}")

    def cancel(self, batch_id):
        anthropic, translate = self._sdk()
        with translate(anthropic, "Anthropic Message Batches", "-"):
            self.provider.client().messages.batches.cancel(batch_id)


class GeminiAdapter(Adapter):
    kind = "gemini"
    max_requests = 100_000  # the documented bound is the size: 20 MB of inlined requests
    max_bytes = 20 * 1000 * 1000

    def _translate(self, model="-"):
        from ..providers.gemini_provider import _translate_errors

        return _translate_errors("Gemini batch mode", model)

    def entry(self, custom_id, request):
        from google.genai import types

        contents, config = self.provider.contents_and_config(request)
        config = config.model_copy(update={"automatic_function_calling": None})  # a client-side option
        item = types.InlinedRequest(contents=contents, config=config, metadata={"key": custom_id})
        return item, _json_size(item.model_dump(mode="json", exclude_none=True))

    def create(self, marker, model, entries):
        client = self.provider.client()
        with self._translate(model):
            job = client.batches.create(model=model, src=entries, config={"display_name": marker})
        return job.name, None

    def find(self, marker):
        client = self.provider.client()
        with self._translate():
            for n, job in enumerate(client.batches.list(config={"page_size": 50})):
                if job.display_name == marker:
                    return job.name
                if n >= 49:
                    break
        return None

    def _get(self, batch_id):
        client = self.provider.client()
        with self._translate():
            return client.batches.get(name=batch_id)

    def retrieve(self, batch_id):
        job = self._get(batch_id)
        status = str(getattr(job.state, "value", job.state) or "")
        ended = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
                 "JOB_STATE_PARTIALLY_SUCCEEDED"}
        state = ENDED if status in ended else (CANCELLING if status == "JOB_STATE_CANCELLING" else IN_PROGRESS)
        counts = {}
        if job.dest is not None and job.dest.inlined_responses is not None:
            answers = job.dest.inlined_responses
            counts = {"total": len(answers), "succeeded": sum(1 for a in answers if a.response is not None),
                      "errored": sum(1 for a in answers if a.error is not None)}
        missing = {"JOB_STATE_EXPIRED": EXPIRED, "JOB_STATE_CANCELLED": CANCELED}.get(status, ERRORED)
        error = str(job.error.message or "") if getattr(job, "error", None) is not None else ""
        return Status(status, state, counts, None, error, missing)

    def results(self, batch_id):
        job = self._get(batch_id)
        for answer in (job.dest.inlined_responses or []) if job.dest is not None else []:
            key = (answer.metadata or {}).get("key")
            if not isinstance(key, str):
                continue  # without its key an answer can't be placed: its request is resubmitted
            raw = {"response": answer.response.model_dump(mode="json", exclude_none=True) if answer.response else None,
                   "error": answer.error.model_dump(mode="json", exclude_none=True) if answer.error else None}
            yield key, raw

    def parse(self, raw):
        from google.genai import types

        if raw.get("response") is not None:
            try:
                response = types.GenerateContentResponse.model_validate(raw["response"])
            except Exception as exc:
                return Parsed(ERRORED, error=f"The batch result is not a GenerateContentResponse: {exc}")
            return Parsed(SUCCEEDED, self.provider.response_of(response))
        error = raw.get("error") or {}
        return Parsed(ERRORED, error=f"Gemini batch request failed ({error.get('code')}): {error.get('message') or 'no answer'}")

    def cancel(self, batch_id):
        client = self.provider.client()
        with self._translate():
            client.batches.cancel(name=batch_id)


ADAPTERS = {cls.kind: cls for cls in (OpenAIAdapter, AnthropicAdapter, GeminiAdapter)}


def adapter_for(provider_row, *, api_key: str | None = None) -> Adapter | None:
    """The batch adapter of a provider, or None when it has no batch API (copy/paste, OpenAI-compatible)."""
    from ..providers import client_for

    cls = ADAPTERS.get(provider_row.kind)
    if cls is None:
        return None
    return cls(client_for(provider_row, api_key=api_key))
