"""The one interface every provider implements: turn a ProviderRequest into a ProviderResponse.

Providers only talk to their SDK and report usage; the service prices, logs and retries.
"""

import email.utils
from contextlib import contextmanager
import hashlib
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx

from ..errors import ProviderCallError


@dataclass
class ProviderRequest:
    model: str
    messages: list[dict[str, Any]]  # {"role": …, "content": str | [text and image parts]} (see llm.calls.content)
    max_tokens: int
    temperature: float | None = None
    json_schema: dict | None = None
    schema_name: str = "response"
    extra: dict = field(default_factory=dict)
    # Ends of the marked stable prefixes (llm.prompts.CachePoint, indexes into ``messages``): the
    # Anthropic provider puts its cache_control breakpoints there; OpenAI and Gemini cache a
    # repeated prefix by themselves and ignore them.
    cache_points: list = field(default_factory=list)

    @property
    def system_text(self) -> str:
        return "\n\n".join(m["content"] for m in self.messages if m["role"] == "system")

    @property
    def chat_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["role"] != "system"]


@dataclass
class Usage:
    input_tokens: int = 0  # every input token, cached ones included
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0  # every cache write, the 1-hour ones included
    cache_write_1h_input_tokens: int = 0  # of those, the ones with a 1-hour lifetime (Anthropic prices them apart)
    output_tokens: int = 0  # every billed output token, reasoning included
    reasoning_tokens: int = 0


# What a provider's stop reason means for the call (``ProviderResponse.stop``). Everything but ""
# is terminal: the service logs it under its own status, raises, never caches and never re-asks.
STOP_REFUSED = "refused"  # the model declined (OpenAI message.refusal, Anthropic "refusal")
STOP_BLOCKED = "blocked"  # a safety filter stopped it (OpenAI content_filter, Gemini SAFETY…, promptFeedback)
STOP_CONTEXT = "context_exceeded"  # Anthropic model_context_window_exceeded
STOP_PAUSED = "paused"  # Anthropic pause_turn
STOP_NO_ANSWER = "no_answer"  # finished for another reason with no text at all (Gemini OTHER, MALFORMED_FUNCTION_CALL…)


@dataclass
class ProviderResponse:
    text: str
    usage: Usage
    truncated: bool = False
    finish_reason: str = ""
    raw: dict = field(default_factory=dict)
    http_status: int = 200
    stop: str = ""  # "" (a usable answer, or truncated) or one of the STOP_* values above
    stop_detail: str = ""  # the provider's reason in words: the refusal text, the blocked categories…


class BilledCallError(ProviderCallError):
    """The provider answered, and billed the call, but the answer can't be used (an image URL that
    could not be fetched). ``usage`` is what it billed, so the log row carries the cost."""

    def __init__(self, message: str, *, usage: Usage, http_status: int | None = None):
        super().__init__(message, status="invalid_output", http_status=http_status)
        self.usage = usage


def download(url: str, *, timeout: float | None, max_bytes: int) -> bytes:
    """The bytes behind a URL a provider returned (an image), or ValueError saying why not.

    Provider output is untrusted: only http(s), no redirects, no credentials sent, at most
    ``max_bytes`` read.
    """
    scheme = urlsplit(url or "").scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"the image URL is not http(s) ({(url or '')[:80]!r})")
    try:
        with httpx.stream("GET", url, timeout=timeout or 60.0, follow_redirects=False) as response:
            if response.status_code != 200:
                raise ValueError(f"fetching the image URL answered HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ValueError(f"the image at the URL is larger than {max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ValueError(f"the image URL could not be fetched ({type(exc).__name__}: {exc})") from None
    return b"".join(chunks)


MAX_IMAGE_DOWNLOAD_BYTES = 50 * 1024 * 1024

# Called (in the calling thread) right before an SDK client sends a request's first byte: the httpx
# "request" event hook of every client the SDK-backed providers build (``send_hooks``). llm.calls
# registers the settling of the call's overlapped row insert (llm/records/dblog.py), so the row is
# committed before the provider sees the request; a hook that raises stops the send.
_BEFORE_SEND: list = []


def on_before_send(func) -> None:
    if func not in _BEFORE_SEND:
        _BEFORE_SEND.append(func)


def before_send(request=None) -> None:
    for func in _BEFORE_SEND:
        func()


def send_hooks() -> dict:
    """``event_hooks`` for an httpx client built for an SDK."""
    return {"request": [before_send]}

_CLIENTS: dict[tuple, object] = {}
_CLIENTS_LOCK = threading.Lock()


def cached_client(kind: str, base_url, api_key: str, timeout, factory):
    """One SDK client per (kind, base URL, key, timeout) and process.

    Building a client sets up a connection pool and TLS context (tens of milliseconds), so
    reusing it keeps our overhead per call small. The process id is in the key so a forked
    worker never shares a parent's connections.
    """
    key = (os.getpid(), kind, base_url, hashlib.sha256((api_key or "").encode()).hexdigest(), timeout)
    client = _CLIENTS.get(key)
    if client is None:
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                client = _CLIENTS[key] = factory()
    return client


class Provider(ABC):
    """Subclasses set ``kind`` and implement ``execute``; ``ping`` is optional."""

    kind: str = ""
    # True when the SDK client calls ``before_send`` right before it sends (see ``send_hooks``);
    # otherwise the call path settles the row's insert before ``execute``.
    settles_before_send: bool = False

    def __init__(self, config, *, api_key: str | None = None, timeout: float | None = None):
        self.config = config  # an llm.models.LLMProvider
        self.api_key = api_key if api_key is not None else config.api_key()
        self.base_url = config.resolved_base_url() or None
        self.timeout = timeout

    @abstractmethod
    def execute(self, request: ProviderRequest) -> ProviderResponse: ...

    def prepare(self) -> None:
        """Build the SDK client now, so the rate limiter's admission is right before the send."""
        factory = getattr(self, "client", None)
        if callable(factory):
            factory()

    def ping(self) -> str:
        """Check the connection and the key; return a one-line description of what answered."""
        raise NotImplementedError

    def stream(self, request: ProviderRequest):
        """A ``llm.providers.streams.ProviderStream`` of the answer; providers that cannot stream
        (the copy/paste one) do not override this."""
        raise NotImplementedError(f"{self.config.name} does not stream.")

    # Helpers shared by the SDK-backed providers.
    def describe(self) -> str:
        return f"{self.config.name} ({self.config.get_kind_display()}{', ' + self.base_url if self.base_url else ''})"


def timeout_error(provider: str, model: str) -> ProviderCallError:
    return ProviderCallError(f"{provider} did not answer in time for model {model!r}.", status="timeout", retryable=True)


def connection_error(provider: str, model: str, exc: BaseException) -> ProviderCallError:
    return ProviderCallError(
        f"Could not reach {provider} for model {model!r}: {exc}. Check the base URL and the network.",
        status="error", retryable=True,
    )


def sdk_error_detail(exc) -> str:
    """The provider's own message from an SDK status error (OpenAI and Anthropic bodies alike)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", "") or exc)


@contextmanager
def translate_sdk_errors(sdk, provider: str, model: str):
    """Turn the exceptions of a Stainless-generated SDK (openai, anthropic) into ProviderCallError."""
    try:
        yield
    except sdk.APITimeoutError as exc:  # a subclass of APIConnectionError: caught first
        raise timeout_error(provider, model) from exc
    except sdk.APIConnectionError as exc:
        raise connection_error(provider, model, exc) from exc
    except sdk.APIStatusError as exc:
        raise error_for_status(provider, model, exc.status_code, sdk_error_detail(exc), exc.response.headers,
                               body=sdk_error_body(exc)) from exc


def sdk_error_body(exc) -> dict:
    """The ``error`` object of an SDK status error's body ({} when there is none).

    The openai SDK keeps the inner object as ``body``; anthropic keeps the whole envelope
    (``{"type": "error", "error": {...}}``); google-genai keeps it as ``details``.
    """
    body = getattr(exc, "body", None)
    if body is None:
        body = getattr(exc, "details", None)
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if isinstance(body, dict):
        inner = body.get("error", body)
        return inner if isinstance(inner, dict) else {}
    return {}


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms:
            return max(float(ms) / 1000.0, 0.0)
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        if parsed is None:
            return None
        return max(parsed.timestamp() - time.time(), 0.0)


# Provider keys as they appear in error texts: OpenAI/Anthropic "sk-…", Gemini "AIza…", ours "llmp_…".
_KEY_PATTERN = re.compile(r"(sk-|AIza|llmp_)[A-Za-z0-9_\-]{6,}")


def redact_keys(text: str, *known: str | None) -> str:
    """``text`` with API keys cut to their last 4 characters (providers echo a refused key back)."""
    for key in known:
        if key and len(key) >= 8:
            text = text.replace(key, f"…{key[-4:]}")
    return _KEY_PATTERN.sub(lambda m: f"{m.group(1)}…{m.group(0)[-4:]}", text or "")


# OpenAI's billing codes, all under error.type "insufficient_quota" (a 429 like a rate limit, but
# waiting never helps): https://platform.openai.com/docs/guides/error-codes and
# https://learn.microsoft.com/en-us/microsoft-cloud/dev/dev-proxy/concepts/openai-insufficient-quota
_OPENAI_QUOTA_CODES = frozenset({
    "insufficient_quota", "credit_balance_exhausted", "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded", "organization_usage_limit_exceeded",
})
# Anthropic answers an empty balance or a reached spend limit with invalid_request_error (400) or
# rate_limit_error (429) and only the message tells (anthropics/claude-code#66314, #38035), or with
# billing_error (402, https://docs.anthropic.com/en/api/errors).
_ANTHROPIC_QUOTA_TEXT = re.compile(
    r"credit balance is too low|reached your specified API usage limits|spend limit|purchase credits", re.I
)
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
# A protobuf Duration in JSON: decimal seconds with up to 9 fraction digits and an "s" ("2s", "0.5s").
_DURATION = re.compile(r"^\s*(\d+(?:\.\d{1,9})?)s\s*$")


def google_retry_delay(body: dict) -> float | None:
    """Seconds from a Google error's ``google.rpc.RetryInfo.retryDelay`` (Gemini sends no Retry-After)."""
    for item in body.get("details") or []:
        if isinstance(item, dict) and item.get("@type") == _RETRY_INFO:
            match = _DURATION.match(str(item.get("retryDelay") or ""))
            if match:
                return float(match.group(1))
    return None


def _google_reason(body: dict) -> str:
    for item in body.get("details") or []:
        if isinstance(item, dict) and item.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo":
            return str(item.get("reason") or "")
    return ""


def quota_problem(body: dict, detail: str) -> str:
    """Why an error body means the account's credit or quota is used up ("" when it does not).

    Per-minute limits are not in it: they pass, so they stay retryable rate limits. A Gemini
    per-day quota, or a free tier whose limit is 0 for this model, does not pass in minutes.
    """
    detail = f"{detail} {body.get('message') or ''}"
    etype, code = str(body.get("type") or ""), str(body.get("code") or "")
    if etype == "insufficient_quota" or code in _OPENAI_QUOTA_CODES:
        return f"out of credit or quota ({code or etype})"
    if etype == "billing_error" or (etype in ("invalid_request_error", "rate_limit_error")
                                    and _ANTHROPIC_QUOTA_TEXT.search(detail)):
        return "out of credit or past the spend limit"
    for item in body.get("details") or []:
        if not (isinstance(item, dict) and item.get("@type") == _QUOTA_FAILURE):
            continue
        daily = [str(v.get("quotaId") or v.get("quotaMetric") or "") for v in item.get("violations") or []
                 if isinstance(v, dict) and "perday" in str(v.get("quotaId") or "").lower()]
        if daily:
            return f"daily quota used up ({', '.join(daily)})"
        if re.search(r"limit: 0\b", detail):
            return "no quota for this model on this plan (limit: 0)"
    return ""


def error_for_status(provider: str, model: str, http_status: int, detail: str, headers=None,
                     body: dict | None = None) -> ProviderCallError:
    """Map an HTTP status (and the error body, when there is one) to a ProviderCallError with a
    message that says what to fix."""
    detail = redact_keys((detail or "").strip())[:500]
    where = f"{provider} rejected the request for model {model!r} (HTTP {http_status})"
    body = body if isinstance(body, dict) else {}
    if http_status in (400, 402, 403, 429):
        problem = quota_problem(body, detail)
        if problem:
            return ProviderCallError(
                f"{provider} refused model {model!r} (HTTP {http_status}): {problem}; retrying will not help; "
                f"add credit or raise the limit in the provider's billing settings, or use another provider. {detail}",
                status="quota_exhausted", http_status=http_status,
            )
    if http_status == 401 or _google_reason(body) == "API_KEY_INVALID":  # Gemini: 400 with ErrorInfo API_KEY_INVALID
        return ProviderCallError(
            f"{where}: the API key was refused. Check the key in the provider's environment variable. {detail}",
            status="error", http_status=http_status,
        )
    if http_status == 403:
        return ProviderCallError(
            f"{where}: the key has no access to this model or endpoint. {detail}", status="error", http_status=http_status
        )
    if http_status == 404:
        return ProviderCallError(
            f"{where}: the model or endpoint does not exist; check the model name and the base URL. {detail}",
            status="error", http_status=http_status,
        )
    if http_status == 429:
        retry_after = parse_retry_after(headers)
        if retry_after is None:
            retry_after = google_retry_delay(body)
        return ProviderCallError(
            f"{provider} rate-limited model {model!r} (HTTP 429). {detail}",
            status="rate_limited", http_status=http_status, retry_after=retry_after, retryable=True,
        )
    if http_status in (408, 409) or http_status >= 500:
        return ProviderCallError(
            f"{provider} failed for model {model!r} (HTTP {http_status}). {detail}",
            status="timeout" if http_status == 408 else "error",
            http_status=http_status, retry_after=parse_retry_after(headers), retryable=True,
        )
    return ProviderCallError(f"{where}: {detail}", status="error", http_status=http_status)
