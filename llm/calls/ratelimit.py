"""Requests- and tokens-per-minute limits per model, shared by every process through Redis.

One Lua script checks both sliding 60-second windows and records the call atomically, so
two workers can never both take the last slot. Without Redis (the embedded defaults) the
same algorithm runs in-process. A caller waits for capacity, up to LLM_RATE_LIMIT_MAX_WAIT,
instead of running into the provider's 429.
"""

import threading
import time
import uuid
from collections import deque

from django.conf import settings

from ..errors import RateLimitTimeout


def _window() -> float:
    # One minute in production; tests shorten it to keep the suite fast.
    return float(getattr(settings, "LLM_RATE_LIMIT_WINDOW", 60.0))

_LUA = """
local req, tok = KEYS[1], KEYS[2]
local window, rpm, tpm, tokens, member = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local expired = redis.call('ZRANGEBYSCORE', req, '-inf', now - window)
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', req, '-inf', now - window)
  redis.call('HDEL', tok, unpack(expired))
end
if rpm > 0 and redis.call('ZCARD', req) + 1 > rpm then
  local oldest = redis.call('ZRANGE', req, 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
if tpm > 0 then
  if tokens > tpm then return '-1' end
  local members = redis.call('ZRANGE', req, 0, -1, 'WITHSCORES')
  local used = 0
  local counts = {}
  for i = 1, #members, 2 do
    local n = tonumber(redis.call('HGET', tok, members[i]) or '0')
    counts[#counts + 1] = {n, tonumber(members[i + 1])}
    used = used + n
  end
  if used + tokens > tpm then
    local freed = 0
    for _, c in ipairs(counts) do
      freed = freed + c[1]
      if used - freed + tokens <= tpm then return tostring(c[2] + window - now) end
    end
    return tostring(window)
  end
end
redis.call('ZADD', req, now, member)
redis.call('HSET', tok, member, tokens)
redis.call('PEXPIRE', req, math.floor(window * 1000) + 1000)
redis.call('PEXPIRE', tok, math.floor(window * 1000) + 1000)
return '0'
"""


class _Local:
    """The in-process fallback: same sliding windows, guarded by a lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: dict[str, deque] = {}

    def try_acquire(self, key: str, rpm: int, tpm: int, tokens: int, member: str) -> float:
        WINDOW = _window()
        with self.lock:
            now = time.monotonic()
            q = self.calls.setdefault(key, deque())
            while q and q[0][0] <= now - WINDOW:
                q.popleft()
            if rpm and len(q) + 1 > rpm:
                return q[0][0] + WINDOW - now
            if tpm:
                if tokens > tpm:
                    return -1
                used = sum(n for _, n, _ in q)
                if used + tokens > tpm:
                    freed = 0
                    for ts, n, _ in q:
                        freed += n
                        if used - freed + tokens <= tpm:
                            return ts + WINDOW - now
                    return WINDOW
            q.append((now, tokens, member))
            return 0.0

    def settle(self, key: str, member: str, tokens: int) -> None:
        with self.lock:
            q = self.calls.get(key)
            if not q:
                return
            for i, (ts, _, m) in enumerate(q):
                if m == member:
                    q[i] = (ts, tokens, m)
                    return


_local = _Local()
_redis_client = None
_script = None


def _redis():
    global _redis_client, _script
    url = settings.REDIS_URL
    if not url:
        return None, None
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        _script = _redis_client.register_script(_LUA)
    return _redis_client, _script


class Slot:
    def __init__(self, key: str, member: str, tokens: int):
        self.key, self.member, self.tokens = key, member, tokens

    def settle(self, actual_tokens: int) -> None:
        """Replace the reserved token count with what the call really used."""
        if self.key is None:
            return
        client, _ = _redis()
        if client is None:
            _local.settle(self.key, self.member, actual_tokens)
            return
        try:
            if client.hexists(f"{self.key}:tok", self.member):
                client.hset(f"{self.key}:tok", self.member, actual_tokens)
        except Exception:  # settling is an optimisation; the window expires by itself
            pass


def acquire(model, tokens: int, *, max_wait: float | None = None) -> Slot:
    """Wait until ``model`` has room for one request of ``tokens`` tokens, then take it."""
    rpm, tpm = model.rpm_limit or 0, model.tpm_limit or 0
    if not rpm and not tpm:
        return Slot(None, "", tokens)
    key = f"llm:rl:{model.provider.name}:{model.name}"
    member = uuid.uuid4().hex
    max_wait = settings.LLM_RATE_LIMIT_MAX_WAIT if max_wait is None else max_wait
    deadline = time.monotonic() + max_wait
    while True:
        client, script = _redis()
        if client is None:
            wait = _local.try_acquire(key, rpm, tpm, tokens, member)
        else:
            wait = float(script(keys=[f"{key}:req", f"{key}:tok"], args=[_window(), rpm, tpm, tokens, member]))
        if wait == 0:
            return Slot(key, member, tokens)
        if wait < 0:
            raise RateLimitTimeout(
                f"One request of {tokens} tokens is more than {model}'s limit of {tpm} tokens per minute; "
                "raise tpm_limit in admin or ask for fewer tokens."
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RateLimitTimeout(
                f"{model} is at its rate limit ({rpm or '∞'} requests / {tpm or '∞'} tokens per minute) and no "
                f"capacity freed up within {max_wait:.0f} s; try again later or raise the limits in admin."
            )
        time.sleep(min(wait, remaining) + 0.005)
