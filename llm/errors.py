"""The errors callers of ``llm`` see. Each message says what went wrong and what to do."""


class LLMError(Exception):
    """Base class; ``query_id`` points at the last logged attempt when there is one."""

    def __init__(self, message: str, *, query_id: int | None = None):
        super().__init__(message)
        self.query_id = query_id


class LLMConfigurationError(LLMError):
    """Unknown or disabled provider, missing key or base URL: nothing was sent."""


class ProviderCallError(LLMError):
    """One failed transport attempt, normalised from whichever SDK raised it."""

    def __init__(
        self,
        message: str,
        *,
        status: str,
        http_status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ):
        super().__init__(message)
        self.status = status  # an LLMQuery.Status value
        self.http_status = http_status
        self.retry_after = retry_after
        self.retryable = retryable


class LLMRequestRejected(LLMError):
    """The provider refused the request (400/401/403/404): retrying would not help."""


class LLMUnavailableError(LLMError):
    """Transient failures (429, 5xx, timeouts, dropped connections) outlasted every retry."""


class LLMTruncatedError(LLMError):
    """The answer was cut off by the token limit; ``partial_text`` holds what arrived.

    ``LLMPausedError`` (a subclass) is the provider stopping a long turn early: the same remedy
    (continue from the partial answer) applies.
    """

    def __init__(self, message: str, *, partial_text: str = "", query_id: int | None = None):
        super().__init__(message, query_id=query_id)
        self.partial_text = partial_text


class LLMRefusedError(LLMError):
    """The model declined to answer, or the provider's safety system blocked the prompt or the answer.

    ``kind`` is "refused" (the model said no: OpenAI ``message.refusal``, Anthropic ``stop_reason:
    "refusal"``) or "blocked" (a filter stopped it: OpenAI ``content_filter``, Gemini ``SAFETY`` and
    its kin, Gemini ``promptFeedback.blockReason``); ``reason`` is the provider's own words. The
    message starts with "The model declined: " so any page that shows an LLM error shows the reason.
    Asking again with the same prompt gets the same answer: nothing was cached, nothing is retried.
    """

    kind = "refused"

    def __init__(self, message: str, *, reason: str = "", partial_text: str = "", query_id: int | None = None):
        super().__init__(message, query_id=query_id)
        self.reason = reason
        self.partial_text = partial_text


class LLMBlockedError(LLMRefusedError):
    """A safety filter (the provider's, not the model's own judgement) blocked the prompt or the answer."""

    kind = "blocked"


class LLMQuotaExhausted(LLMRequestRejected):
    """The account is out of credit or past a spend/daily quota: nothing succeeds until someone adds
    credit, raises the limit or the period resets, so the call failed at once instead of retrying."""


class LLMContextWindowExceeded(LLMError):
    """The model's context window filled up before the answer was done (Anthropic
    ``model_context_window_exceeded``): shorten the input; ``partial_text`` holds what arrived."""

    def __init__(self, message: str, *, partial_text: str = "", query_id: int | None = None):
        super().__init__(message, query_id=query_id)
        self.partial_text = partial_text


class LLMPausedError(LLMTruncatedError):
    """The provider paused a long-running turn (Anthropic ``pause_turn``); the answer is unfinished."""


class LLMInvalidOutputError(LLMError):
    """The answer never satisfied the schema, even after the retry prompts."""

    def __init__(self, message: str, *, last_text: str = "", query_id: int | None = None):
        super().__init__(message, query_id=query_id)
        self.last_text = last_text


class ManualAnswerPending(LLMError):
    """The call went to the manual provider: a person has to paste the answer.

    The caller should pause; when the answer is accepted ``llm.signals.manual_answer_accepted``
    fires, and calling ``complete`` again with the same request returns the pasted answer.
    """

    def __init__(self, query_id: int):
        super().__init__(
            f"Waiting for a pasted answer: copy the prompt of query #{query_id} into any chat LLM "
            "and paste its answer on the copy/paste page.",
            query_id=query_id,
        )


class LLMBudgetExceeded(LLMError):
    """The call would pass a budget; nothing was sent. The message names the budget and what is left."""


class RateLimitTimeout(LLMError):
    """The model stayed at its requests/tokens-per-minute limit for longer than the allowed wait."""


class LLMStreamInterrupted(LLMError):
    """A streamed answer stopped before its end: the provider closed the connection or sent an
    error event mid-stream. ``partial_text`` is what arrived (logged on the row, never an answer)."""

    def __init__(self, message: str, *, partial_text: str = "", query_id: int | None = None):
        super().__init__(message, query_id=query_id)
        self.partial_text = partial_text
