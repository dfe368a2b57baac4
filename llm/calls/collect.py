"""Collect mode: run a domain's own interactive code, and gather the calls it would make instead of
making them, so they can go out as one provider batch.

    with llm.batch.collecting() as gathered:
        try:
            run_step(item)              # the domain's interactive code, unchanged
        except llm.batch.BatchPending:
            pass                        # its next call is in ``gathered``

Inside the block a call whose answer is in the answer cache is answered from it as usual; a call
that would go to a provider is recorded and raises ``BatchPending`` (not an LLMError: the domain's
error handling lets it through). Batch answers are delivered through ``complete()``, which
stores them in the answer cache, so running the same code again passes that call and reaches the
next one. Needs the answer cache (LLM_CACHE_ENABLED); calls made with ``cache=False`` are not
collected, they run interactively.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_ACTIVE: contextvars.ContextVar["list | None"] = contextvars.ContextVar("llm_batch_collecting", default=None)


class BatchPending(Exception):
    """The call was gathered for a batch; its answer comes when the batch is delivered."""

    def __init__(self, custom_id: str):
        super().__init__(f"Gathered for a provider batch (request {custom_id[:12]}…).")
        self.custom_id = custom_id


@dataclass
class Gathered:
    provider: Any  # LLMProvider row
    model: str
    custom_id: str
    kwargs: dict  # Request fields (key left to the domain)


@contextmanager
def collecting():
    gathered: list[Gathered] = []
    token = _ACTIVE.set(gathered)
    try:
        yield gathered
    finally:
        _ACTIVE.reset(token)


def active() -> "list[Gathered] | None":
    return _ACTIVE.get()
