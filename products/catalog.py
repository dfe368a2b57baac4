"""The category and attribute lists the prompts quote, cached.

Keys carry a version that the receivers replace whenever a Category, Subcategory or
AttributeDefinition is saved or deleted (admin, import), so a change shows up in the next
prompt. The TTL is a safety net for other processes when the cache is per process (LocMem).
Lists are ordered by id, so the same catalog always gives byte-identical prompts.
"""

import time

from django.core.cache import cache

from . import conf
from .models import AttributeDefinition, Category, Subcategory

VERSION_KEY = "products:catalog:version"
FORMAT = "v1"  # bump when the cached shape changes


def _version() -> str:
    return cache.get_or_set(VERSION_KEY, lambda: str(time.time_ns()), None)


def invalidate() -> None:
    """Make every cached list stale (called by the receivers)."""
    cache.set(VERSION_KEY, str(time.time_ns()), None)


def _key(name: str) -> str:
    return f"products:catalog:{FORMAT}:{_version()}:{name}"


def outline() -> list[dict]:
    """Categories with their subcategories: [{id, name, description, subcategories: [{id, name, description}]}]."""
    key = _key("outline")
    cached = cache.get(key)
    if cached is not None:
        return cached
    categories = {
        c.pk: {"id": c.pk, "name": c.name, "description": c.description, "subcategories": []}
        for c in Category.objects.order_by("id")
    }
    for sub in Subcategory.objects.order_by("id"):
        if sub.category_id in categories:
            categories[sub.category_id]["subcategories"].append(
                {"id": sub.pk, "name": sub.name, "description": sub.description}
            )
    value = list(categories.values())
    cache.set(key, value, conf.catalog_cache_seconds())
    return value


def subcategory_info(subcategory_id: int) -> dict | None:
    """{id, name, description, category_id, category_name} of one subcategory, or None."""
    for category in outline():
        for sub in category["subcategories"]:
            if sub["id"] == subcategory_id:
                return {**sub, "category_id": category["id"], "category_name": category["name"]}
    return None


def attribute_rows(subcategory_id: int) -> list[dict]:
    key = _key(f"attributes:{subcategory_id}")
    cached = cache.get(key)
    if cached is not None:
        return cached
    value = list(
        AttributeDefinition.objects.filter(subcategory_id=subcategory_id)
        .order_by("id")
        .values("id", "name", "type", "unit", "allowed_values", "required")
    )
    cache.set(key, value, conf.catalog_cache_seconds())
    return value


def definitions(subcategory_id: int) -> list[AttributeDefinition]:
    """The subcategory's attribute definitions (unsaved copies from the cache: for validating only)."""
    return [
        AttributeDefinition(subcategory_id=subcategory_id, **{**row, "allowed_values": list(row["allowed_values"] or [])})
        for row in attribute_rows(subcategory_id)
    ]
