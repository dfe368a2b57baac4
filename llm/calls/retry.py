"""What every provider call shares: the retry loop, the wait between tries, small helpers.

Used by text calls (``service``) and image calls (``images``), so both honour Retry-After,
back off the same way and end with the same errors.
"""

import time
from typing import Callable, TypeVar

from django.conf import settings
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from ..errors import LLMInvalidOutputError, LLMQuotaExhausted, LLMRequestRejected, LLMUnavailableError, ProviderCallError

T = TypeVar("T")


def wait(retry_state) -> float:
    """Retry-After when the provider sent one (capped), else exponential backoff with jitter."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return min(float(retry_after), settings.LLM_MAX_RETRY_AFTER)
    return wait_exponential_jitter(initial=settings.LLM_RETRY_INITIAL_DELAY, max=settings.LLM_RETRY_MAX_DELAY)(retry_state)


def with_retries(attempt_once: Callable[[], T]) -> T:
    """Run ``attempt_once`` until it succeeds, retrying transient provider failures (bounded).

    The final failure becomes LLMUnavailableError (retries ran out), LLMInvalidOutputError
    (the answer was unusable), LLMQuotaExhausted (out of credit or quota: never retried) or
    LLMRequestRejected (the provider refused: 4xx).
    """
    retrying = Retrying(
        stop=stop_after_attempt(max(settings.LLM_MAX_ATTEMPTS, 1)),
        wait=wait,
        retry=retry_if_exception(lambda e: isinstance(e, ProviderCallError) and e.retryable),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                return attempt_once()
    except ProviderCallError as exc:
        if exc.retryable:
            raise LLMUnavailableError(
                f"{exc} Gave up after {attempt.retry_state.attempt_number} attempts; try again later.",
                query_id=exc.query_id,
            ) from exc
        if exc.status == "quota_exhausted":
            raise LLMQuotaExhausted(str(exc), query_id=exc.query_id) from exc
        if exc.status == "invalid_output":
            raise LLMInvalidOutputError(str(exc), query_id=exc.query_id) from exc
        raise LLMRequestRejected(str(exc), query_id=exc.query_id) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def run_id_of(run) -> str:
    """The run id a call is filed under: a string, or an object's ``run_id`` (or pk)."""
    if run is None:
        return ""
    if isinstance(run, str):
        return run
    return str(getattr(run, "run_id", None) or getattr(run, "pk", ""))
