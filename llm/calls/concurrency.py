"""Requests in flight at once per model (``LLMModel.max_concurrent``), shared by every process.

A lease semaphore in Redis: one sorted set per model holds the leases, each scored with the
time it lapses. Taking a lease is one Lua script (drop lapsed leases, count, add), so two
workers can never both take the last one. Giving a lease back removes it and pushes a token
on the model's wake list; callers waiting for a lease block on that list (BLPOP), so a freed
lease goes to a waiter within a round trip instead of a polling interval.

A lease names its holder (``host:pid:id``). A worker killed mid-call cannot give its leases
back: when the gate is full, leases held by processes of this host that no longer exist are
dropped at once, and every lease lapses by itself after the provider's timeout plus the
longest rate-limit wait plus a margin (a holder on another host that died).

Without Redis (the embedded defaults) a semaphore per model and process does the same job.
A caller waits up to LLM_RATE_LIMIT_MAX_WAIT, then gets ``RateLimitTimeout``.
"""

import os
import socket
import threading
import time
import uuid

from django.conf import settings

from ..errors import RateLimitTimeout

_ACQUIRE = """
local key, limit, ttl, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZCARD', key) >= limit then return 0 end
redis.call('ZADD', key, now + ttl, member)
redis.call('PEXPIRE', key, math.floor(ttl * 1000) + 1000)
return 1
"""

_RELEASE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], '1')
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  redis.call('PEXPIRE', KEYS[2], 60000)
end
return 1
"""

# How long a waiter blocks on the wake list before it tries again anyway (a lease that
# lapsed or was reaped pushes no wake token).
_WAKE_POLL = 0.25
# How often a waiter looks for leases held by dead processes of this host.
_REAP_EVERY = 2.0

_HOST = socket.gethostname()
_scripts: tuple = (None, None, None)  # (client, acquire script, release script)
_local_lock = threading.Lock()
_local_gates: dict[tuple[str, int], threading.BoundedSemaphore] = {}


def _redis():
    from . import ratelimit

    client, _ = ratelimit._redis()  # one connection pool for the rate limiter and this gate
    if client is None:
        return None, None, None
    global _scripts
    if _scripts[0] is not client:
        _scripts = (client, client.register_script(_ACQUIRE), client.register_script(_RELEASE))
    return _scripts


def key_for(model) -> str:
    return f"llm:cc:{model.provider.name}:{model.name}"


def lease_ttl(model) -> float:
    """Seconds after which a lease lapses even if its holder never gives it back."""
    timeout = model.provider.timeout_seconds or settings.LLM_REQUEST_TIMEOUT
    return float(timeout) + float(settings.LLM_RATE_LIMIT_MAX_WAIT) + 30.0


class Lease:
    """One request's place in a model's gate; ``release`` gives it back (idempotent)."""

    def __init__(self, key: str | None, member: str = "", limit: int = 0, local=None):
        self.key, self.member, self.limit, self._local = key, member, limit, local
        self.released = key is None

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if self._local is not None:
            self._local.release()
            return
        _, _, release = _redis()
        try:
            release(keys=[self.key, f"{self.key}:wake"], args=[self.member, self.limit])
        except Exception:  # Redis gone: the lease lapses by itself after lease_ttl
            pass

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


def reap_dead_holders(client, key: str) -> int:
    """Drop leases held by processes of this host that no longer exist; returns how many."""
    dead = []
    for raw in client.zrange(key, 0, -1):
        member = raw.decode() if isinstance(raw, bytes) else raw
        parts = member.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit():
            continue
        if not _alive(int(parts[1])):
            dead.append(member)
    if dead:
        client.zrem(key, *dead)
        client.lpush(f"{key}:wake", *(["1"] * len(dead)))
    return len(dead)


def _timeout(model, limit: int, max_wait: float) -> RateLimitTimeout:
    return RateLimitTimeout(
        f"{model} already has {limit} requests in flight (its max_concurrent) and none finished within "
        f"{max_wait:.0f} s; try again later or raise max_concurrent in admin."
    )


def acquire(model, *, max_wait: float | None = None) -> Lease:
    """Wait until ``model`` has fewer than ``max_concurrent`` requests in flight, then take a place."""
    limit = model.max_concurrent or 0
    if not limit:
        return Lease(None)
    key = key_for(model)
    max_wait = settings.LLM_RATE_LIMIT_MAX_WAIT if max_wait is None else max_wait
    client, acquire_script, _ = _redis()
    if client is None:
        with _local_lock:
            gate = _local_gates.setdefault((key, limit), threading.BoundedSemaphore(limit))
        if not gate.acquire(timeout=max_wait):
            raise _timeout(model, limit, max_wait)
        return Lease(key, limit=limit, local=gate)

    member = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex}"
    ttl = lease_ttl(model)
    deadline = time.monotonic() + max_wait
    next_reap = 0.0
    while True:
        if acquire_script(keys=[key], args=[limit, ttl, member]) == 1:
            return Lease(key, member, limit)
        now = time.monotonic()
        if now >= next_reap:
            next_reap = now + _REAP_EVERY
            if reap_dead_holders(client, key):
                continue
        remaining = deadline - now
        if remaining <= 0:
            raise _timeout(model, limit, max_wait)
        client.blpop([f"{key}:wake"], timeout=min(_WAKE_POLL, remaining))
