"""The fake provider's prompt cache: what each provider reports when a prompt prefix repeats.

Sources of the behaviour (the shapes of the usage fields are in fake_provider's docstring):

* Anthropic (explicit): a ``cache_control`` block is a breakpoint; the prefix up to it (tools,
  then system, then messages) is written to the cache (``cache_creation_input_tokens``, split in
  ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` by the block's
  ``ttl``) and read back by a later request with the same prefix (``cache_read_input_tokens``);
  a hit refreshes the entry's lifetime; prefixes shorter than the model's minimum (1,024 tokens
  for Sonnet/Opus in the prompt caching guide) are not cached; at most 4 breakpoints
  (docs.claude.com/en/docs/build-with-claude/prompt-caching; anthropic-sdk-python
  src/anthropic/types/usage.py and cache_creation.py).
* OpenAI (automatic): prompts of 1,024 tokens or more are cached by exact prefix, hits "in
  increments of 128 tokens" after the first 1,024, reported as
  ``usage.prompt_tokens_details.cached_tokens``; entries last 5-10 minutes of inactivity
  (platform.openai.com/docs/guides/prompt-caching; openai-python
  src/openai/types/completion_usage.py PromptTokensDetails).
* Gemini (implicit, 2.5 models): a request that starts with a recently seen prefix of at least
  1,024 tokens reports ``usageMetadata.cachedContentTokenCount``
  (ai.google.dev/gemini-api/docs/caching "Implicit caching"; python-genai
  google/genai/types.py GenerateContentResponseUsageMetadata). The reference gives no step
  size; the fake uses OpenAI's 128 tokens.

Token counts are the fake's own (cl100k), so cached counts are consistent with its
``input_tokens``: a cached prefix is never more than the request's input.
"""

import hashlib
import json
import threading
import time

ANTHROPIC_TTL_SECONDS = {"5m": 300, "1h": 3600}
AUTOMATIC_TTL_SECONDS = 300
MIN_TOKENS = 1024
STEP_TOKENS = 128


class PromptCache:
    def __init__(self, count_tokens, encode, *, min_tokens: int = MIN_TOKENS, clock=time.monotonic):
        self._count = count_tokens
        self._encode = encode
        self.min_tokens = min_tokens
        self.enabled = True
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, float] = {}  # key -> expiry (clock seconds)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _hit(self, key: str, ttl: float) -> bool:
        now = self._clock()
        with self._lock:
            expiry = self._entries.get(key)
            if expiry is not None and expiry > now:
                self._entries[key] = max(expiry, now + ttl)  # a hit refreshes the lifetime
                return True
            return False

    def _store(self, key: str, ttl: float) -> None:
        with self._lock:
            if len(self._entries) > 50_000:  # keep the fake's memory bounded
                now = self._clock()
                self._entries = {k: v for k, v in self._entries.items() if v > now}
            self._entries[key] = max(self._entries.get(key, 0.0), self._clock() + ttl)

    # ----- Anthropic ---------------------------------------------------------------------- #
    def anthropic(self, body: dict, input_tokens: int) -> tuple[int, int, int]:
        """(cache read, cache write, of which 1-hour) tokens of a Messages request."""
        if not self.enabled or not isinstance(body, dict):
            return 0, 0, 0
        head = json.dumps([body.get("model"), body.get("tools"), body.get("tool_choice")], sort_keys=True)
        texts: list[str] = []
        breakpoints: list[tuple[str, str]] = []  # (prefix text, ttl)

        def walk(blocks, role):
            if isinstance(blocks, str):
                texts.append(blocks)
                return
            for block in blocks or []:
                if isinstance(block, dict):
                    texts.append(block.get("text") or "")
                    control = block.get("cache_control")
                    if isinstance(control, dict) and control.get("type") == "ephemeral":
                        breakpoints.append((f"{role}\x00" + "\x00".join(texts), control.get("ttl") or "5m"))

        walk(body.get("system"), "system")
        for message in body.get("messages") or []:
            if isinstance(message, dict):
                walk(message.get("content"), message.get("role"))
        read = written = written_1h = 0
        for prefix, ttl in breakpoints[-4:]:
            tokens = min(self._count(prefix.replace("\x00", "\n")), input_tokens)
            if tokens < self.min_tokens:
                continue
            key = hashlib.sha256((head + prefix).encode()).hexdigest()
            seconds = ANTHROPIC_TTL_SECONDS.get(ttl, 300)
            if self._hit(key, seconds):
                read = max(read, tokens)
            else:
                self._store(key, seconds)
                new = max(0, tokens - read - written)
                written += new
                if ttl == "1h":
                    written_1h += new
        return read, written, written_1h

    # ----- OpenAI and Gemini: automatic prefix caching ------------------------------------ #
    def automatic(self, route: str, model: str, text: str) -> int:
        """Cached tokens of a request whose prompt text (in order) is ``text``."""
        if not self.enabled or not text:
            return 0
        tokens = self._encode(text)
        if len(tokens) < self.min_tokens:
            return 0
        digest = hashlib.sha256(f"{route}\x00{model}\x00".encode())
        cached = 0
        for end in range(STEP_TOKENS, len(tokens) + 1, STEP_TOKENS):
            digest.update(json.dumps(tokens[end - STEP_TOKENS:end]).encode())
            if end < self.min_tokens:
                continue
            key = digest.copy().hexdigest()
            if self._hit(key, AUTOMATIC_TTL_SECONDS):
                cached = end
            else:
                self._store(key, AUTOMATIC_TTL_SECONDS)
        return cached
