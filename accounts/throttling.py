"""API rate limits (ninja.throttling, counted in Django's cache: Redis when REDIS_URL is set).

The rates are read from settings on every request, not once at import, so an operator's
``API_THROTTLE_*`` and a test's ``override_settings`` both take effect. "0" turns a limit off.
Over the limit the API answers 429 with Retry-After.
"""

from django.conf import settings
from ninja.throttling import AnonRateThrottle, AuthRateThrottle


class _SettingsRate:
    setting = ""

    def __init__(self):
        super().__init__(rate=self._configured() or "1/s")  # parses now: a malformed rate stops the start

    def _configured(self) -> str | None:
        raw = str(getattr(settings, self.setting, "") or "").strip()
        return None if raw in ("", "0") else raw

    def allow_request(self, request) -> bool:
        self.rate = self._configured()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)


class ApiAnonThrottle(_SettingsRate, AnonRateThrottle):
    """Per client address, for the operations that need no login (the bookmarklet's preflight)."""

    setting = "API_THROTTLE_ANON"


class ApiUserThrottle(_SettingsRate, AuthRateThrottle):
    """Per authenticated user (Bearer token or session)."""

    setting = "API_THROTTLE_USER"


def client_ip(request) -> str | None:
    """The caller's address: REMOTE_ADDR, or the address NUM_PROXIES trusted proxies put in
    X-Forwarded-For (never the whole header: a client can write anything there). Used for the
    login lockout (django-axes, AXES_CLIENT_IP_CALLABLE) and the failed-token limit."""
    remote = request.META.get("REMOTE_ADDR") or None  # None: a request made in code (force_login)
    proxies = int(getattr(settings, "NUM_PROXIES", 0) or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    addrs = [a.strip() for a in forwarded.split(",") if a.strip()]
    return addrs[-min(proxies, len(addrs))] if addrs else remote


class TooManyTokenFailures(Exception):
    def __init__(self, retry_after: int):
        super().__init__("Too many requests with an invalid API token from this address.")
        self.retry_after = retry_after


class TokenFailureLimit:
    """At most API_TOKEN_FAILURE_LIMIT refused Bearer tokens per client address per
    API_TOKEN_FAILURE_WINDOW seconds (a fixed window in the cache); past it every Bearer request
    from that address gets 429 until the window ends, so tokens cannot be guessed at speed."""

    @staticmethod
    def _config() -> tuple[int, int]:
        return int(getattr(settings, "API_TOKEN_FAILURE_LIMIT", 0) or 0), int(
            getattr(settings, "API_TOKEN_FAILURE_WINDOW", 900) or 900)

    def _key(self, request) -> tuple[str, int]:
        import time

        _, window = self._config()
        now = time.time()
        bucket = int(now // window)
        return f"api-token-failures:{client_ip(request) or 'unknown'}:{bucket}", int(window - now % window) + 1

    def check(self, request) -> None:
        from django.core.cache import cache

        limit, _ = self._config()
        if limit <= 0:
            return
        key, retry_after = self._key(request)
        if (cache.get(key) or 0) >= limit:
            raise TooManyTokenFailures(retry_after)

    def record_failure(self, request) -> None:
        from django.core.cache import cache

        limit, window = self._config()
        if limit <= 0:
            return
        key, _ = self._key(request)
        cache.add(key, 0, timeout=window + 5)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window + 5)
