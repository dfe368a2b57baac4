"""What an answered call that is not a usable answer becomes: its log status and the error raised.

A provider can answer HTTP 200 and still give nothing to use: the model declined, a safety filter
blocked the prompt or the answer, the token limit or the context window cut it off, or the turn
was paused. Each is terminal for the call: logged under its own status with the provider's reason
(never ``ok``), raised as a typed error, never cached, and never re-asked by the structured-output
loop (the same prompt gets the same refusal, and each try is billed).
"""

from ..errors import (
    LLMBlockedError,
    LLMContextWindowExceeded,
    LLMError,
    LLMInvalidOutputError,
    LLMPausedError,
    LLMRefusedError,
    LLMTruncatedError,
)
from ..models import LLMQuery
from ..providers.base import STOP_BLOCKED, STOP_CONTEXT, STOP_NO_ANSWER, STOP_PAUSED, STOP_REFUSED, ProviderResponse


def is_terminal(response: ProviderResponse) -> bool:
    return bool(response.stop or response.truncated)


def terminal(response: ProviderResponse, *, provider: str, model: str, limit: int, query_id: int) -> tuple[str, str, LLMError]:
    """(LLMQuery status, the row's error text, the exception to raise) for a terminal answer."""
    where = f"{provider}/{model}, query #{query_id}"
    detail = response.stop_detail
    text = response.text
    if response.stop == STOP_REFUSED:
        return LLMQuery.Status.REFUSED, f"Refused: {detail}", LLMRefusedError(
            f"The model declined: {detail} ({where}). Rephrase the request; the same request gets the same answer.",
            reason=detail, partial_text=text, query_id=query_id,
        )
    if response.stop == STOP_BLOCKED:
        return LLMQuery.Status.BLOCKED, f"Blocked by {provider}'s safety filter: {detail}", LLMBlockedError(
            f"The model declined: {detail}, by {provider}'s safety filter ({where}). Rephrase the request or change "
            "the content it is about.",
            reason=detail, partial_text=text, query_id=query_id,
        )
    if response.stop == STOP_CONTEXT:
        return LLMQuery.Status.CONTEXT_EXCEEDED, f"Stopped: {detail}.", LLMContextWindowExceeded(
            f"{provider}/{model} stopped because {detail} (query #{query_id}); send less input or choose a model "
            "with a larger context window.",
            partial_text=text, query_id=query_id,
        )
    if response.stop == STOP_PAUSED:
        return LLMQuery.Status.PAUSED, f"Stopped: {detail}.", LLMPausedError(
            f"{provider}/{model} stopped early: {detail} (query #{query_id}); continue from the partial answer or ask "
            "for less.",
            partial_text=text, query_id=query_id,
        )
    if response.stop == STOP_NO_ANSWER:
        return LLMQuery.Status.INVALID_OUTPUT, f"No answer: {detail}.", LLMInvalidOutputError(
            f"{provider}/{model}: {detail} (query #{query_id}); try again or rephrase the request.",
            last_text=text, query_id=query_id,
        )
    why = f": {detail}" if detail else ""
    return LLMQuery.Status.TRUNCATED, f"The answer hit the {limit}-token output limit and was cut off{why}.", LLMTruncatedError(
        f"{provider}/{model} stopped at the {limit}-token output limit (query #{query_id}){why}; "
        "raise max_tokens or ask for less.",
        partial_text=text, query_id=query_id,
    )
