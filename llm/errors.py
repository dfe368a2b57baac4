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
    """The answer was cut off by the token limit; ``partial_text`` holds what arrived."""

    def __init__(self, message: str, *, partial_text: str = "", query_id: int | None = None):
        super().__init__(message, query_id=query_id)
        self.partial_text = partial_text


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
