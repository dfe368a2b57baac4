"""A small per-user fixed-window rate limiter for the generation API.

Counts in Redis when ``REDIS_URL`` is set (shared by every web process), else in Django's
cache (per process with the default LocMem cache: good enough for ``make run``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

from . import conf

logger = logging.getLogger(__name__)

PREFIX = "products:ratelimit:v1"


@dataclass
class Decision:
    allowed: bool
    limit: int
    window: int
    count: int
    retry_after: int  # seconds until the window resets (0 when allowed)

    @property
    def message(self) -> str:
        at = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + self.retry_after))
        return (
            f"Too many requests: the limit is {self.limit} per {self.window} seconds for each user. "
            f"Try again in {self.retry_after} second{'s' if self.retry_after != 1 else ''} (at {at})."
        )


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _count(key: str, window: int) -> int:
    url = getattr(settings, "REDIS_URL", "")
    if url:
        try:
            client = _redis(url)
            pipe = client.pipeline()
            pipe.set(key, 0, ex=window + 1, nx=True)
            pipe.incr(key)
            _, count = pipe.execute()
            return int(count)
        except Exception:  # Redis down: fall back to the local cache rather than refusing everyone
            logger.warning("Rate limiter: Redis unavailable, counting in the local cache", exc_info=True)
    cache.add(key, 0, window + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window + 1)
        return 1


def hit(user_id, scope: str = "api", now: float | None = None) -> Decision:
    """Count one request of ``user_id`` in the current window and say whether it may go on."""
    limit, window = conf.api_rate_limit()
    if limit <= 0:
        return Decision(True, 0, window, 0, 0)
    now = time.time() if now is None else now
    start = int(now // window) * window
    count = _count(f"{PREFIX}:{scope}:{user_id}:{window}:{start}", window)
    if count <= limit:
        return Decision(True, limit, window, count, 0)
    return Decision(False, limit, window, count, max(1, int(start + window - now + 0.999)))


def reset(user_id, scope: str = "api", now: float | None = None) -> None:
    """Forget the current window's count (tests, admins)."""
    limit, window = conf.api_rate_limit()
    now = time.time() if now is None else now
    key = f"{PREFIX}:{scope}:{user_id}:{window}:{int(now // window) * window}"
    url = getattr(settings, "REDIS_URL", "")
    if url:
        try:
            _redis(url).delete(key)
        except Exception:
            pass
    cache.delete(key)
