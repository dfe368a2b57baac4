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
