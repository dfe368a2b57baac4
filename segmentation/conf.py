"""Segmentation settings: ``django.conf.settings`` first, then the environment, then defaults."""

import environ
from django.conf import settings

_env = environ.Env()


def _get(name: str, cast, default):
    value = getattr(settings, name, None)
    if value is not None:
        return cast(value)
    return getattr(_env, cast.__name__)(name, default=default)


def products_per_prompt() -> int:
    return _get("SEGMENTATION_PRODUCTS_PER_PROMPT", int, 40)


def taxonomies_per_consolidation() -> int:
    return max(2, _get("SEGMENTATION_TAXONOMIES_PER_CONSOLIDATION", int, 20))


def products_per_refinement() -> int:
    return _get("SEGMENTATION_PRODUCTS_PER_REFINEMENT", int, 40)


def refine_details() -> int:
    """Characters of a product's description its refine line shows (0: none). The seed's line format
    shows 240, as the extract stage does; fewer makes every refine prompt shorter and its cached
    stable prefix (instructions, taxonomy) a larger share of it (bench/cost_per_1k.py --refine-details)."""
    value = _get("SEGMENTATION_REFINE_DETAILS", int, 240)
    if value < 0:
        raise ValueError("SEGMENTATION_REFINE_DETAILS must be 0 (no description) or a number of characters.")
    return value


def max_segments() -> int:
    """The most segments the extract and consolidate prompts ask for (the prompts' "at most")."""
    return max(2, _get("SEGMENTATION_MAX_SEGMENTS", int, 12))


def max_retries() -> int:
    return _get("SEGMENTATION_MAX_RETRIES", int, 3)


def max_products() -> int:
    return _get("SEGMENTATION_MAX_PRODUCTS", int, 50000)


def concurrency() -> int:
    return max(1, _get("SEGMENTATION_CONCURRENCY", int, 8))


def default_temperature() -> float:
    return _get("SEGMENTATION_DEFAULT_TEMPERATURE", float, 0.2)


def heartbeat_stale_seconds() -> float:
    """A running batch whose heartbeat is older than this belongs to a dead worker and is resumed."""
    value = _get("SEGMENTATION_HEARTBEAT_STALE_SECONDS", float, 60.0)
    if value <= 0:
        raise ValueError("SEGMENTATION_HEARTBEAT_STALE_SECONDS must be a positive number of seconds.")
    return value


def heartbeat_interval() -> float:
    """How often a working task touches its batch's heartbeat: a few beats per stale period."""
    return max(0.2, min(10.0, heartbeat_stale_seconds() / 4))


def max_resumes() -> int:
    """Automatic resumes per run before the run is failed (a run that kills its workers must stop)."""
    return max(0, _get("SEGMENTATION_MAX_RESUMES", int, 5))


def s3_options() -> dict:
    """The migration target's own settings, given to ``llm.records.s3_storage`` (the one S3
    storage of interaction files), which fills what is unset from the shared S3 settings."""
    def s(name, fallback=None):
        value = getattr(settings, name, None) or _env.str(name, default="")
        if not value and fallback:
            value = getattr(settings, fallback, None) or _env.str(fallback, default="")
        return value or None

    return {
        "bucket": s("SEGMENTATION_S3_BUCKET", fallback="S3_BUCKET"),
        "endpoint_url": s("SEGMENTATION_S3_ENDPOINT_URL"),
        "region_name": s("SEGMENTATION_S3_REGION"),
        "access_key": s("SEGMENTATION_S3_ACCESS_KEY_ID"),
        "secret_key": s("SEGMENTATION_S3_SECRET_ACCESS_KEY"),
    }
