"""Settings of the products app, read from django.conf.settings with environment defaults.

Read at call time (functions, not constants) so tests and admins can change them.
"""

import re

import environ
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _setting(name: str, default):
    value = getattr(settings, name, None)
    if value is None:
        value = env.str(name, default=None)
    return default if value in (None, "") else value


def api_rate_limit() -> tuple[int, int]:
    """(requests, window seconds) per user for the generation API; "30/m", "100/h", "5/10s"; "0" = off."""
    raw = str(_setting("PRODUCTS_API_RATE_LIMIT", "30/m"))
    if raw.strip() == "0":
        return 0, 60
    match = _RATE.match(raw)
    if not match:
        raise ImproperlyConfigured(
            f"PRODUCTS_API_RATE_LIMIT must look like 30/m, 100/h or 5/10s, not {raw!r}."
        )
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * _UNIT_SECONDS[unit]


def validation_retries() -> int:
    """Re-asks when an answer does not fit the schema (e.g. names a subcategory id that does not exist)."""
    return int(_setting("PRODUCTS_VALIDATION_RETRIES", 2))


def catalog_cache_seconds() -> int:
    """How long prompt lists of categories and attributes stay cached (signals clear them sooner)."""
    return int(_setting("PRODUCTS_CATALOG_CACHE_SECONDS", 300))


def max_input_chars() -> int:
    return int(_setting("PRODUCTS_MAX_INPUT_CHARS", 20_000))


def bulk_max_rows() -> int:
    return int(_setting("PRODUCTS_BULK_MAX_ROWS", 1000))


def default_provider() -> str:
    """Provider for generation when none is chosen ("" = the llm service's default)."""
    return str(_setting("PRODUCTS_LLM_PROVIDER", ""))


def default_model() -> str:
    return str(_setting("PRODUCTS_LLM_MODEL", ""))
