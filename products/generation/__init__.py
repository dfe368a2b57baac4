"""The generation steps as plain functions: no HTTP, no Celery, no session state.

``identify_category`` → ``map_attributes`` → ``generate_product`` → ``save_product``. Each LLM
step returns its result with the calls it made (``CallRecord``: prompt, raw answer, tokens,
cost, latency) for the debug panel. The API calls these directly; ``products.pipeline`` runs
them for a wizard session or a bulk item.

Untrusted answers are checked here, not trusted: a subcategory id must exist now and belong
to the named category (the schema's enum already limits the ids; a stale list or a mismatch
is re-asked), and every attribute value goes through ``AttributeDefinition.validate_value``;
values that are still invalid after one re-ask are returned flagged, never saved.

This package is the door; one module per step (``identify``, ``attributes``, ``content``),
each with ``build_prompt``, ``read_answer`` (one answer, parsed or raw text: no live call) and
``write_results`` (onto a wizard session), beside ``calling`` (the call and its records),
``results`` (options, results, errors) and ``saving``.
"""

from .attributes import attribute_keys, attributes_schema, check_values, map_attributes, validate_attributes
from .calling import (
    CATEGORY_RETRY_TEMPLATE,
    GENERATE_TEMPLATE,
    IDENTIFY_TEMPLATE,
    MAP_RETRY_TEMPLATE,
    MAP_TEMPLATE,
    clean_text,
)
from .content import generate_product
from .identify import MAX_REASON_CHARS, category_schema, identify_category
from .results import (
    AttributeMapping,
    AttributeValue,
    CallRecord,
    CategoryChoice,
    GeneratedContent,
    GenerationError,
    LLMOptions,
    ProductContent,
    UnknownSubcategory,
    WaitingForManualAnswer,
)
from .saving import save_product

__all__ = [
    "CATEGORY_RETRY_TEMPLATE", "GENERATE_TEMPLATE", "IDENTIFY_TEMPLATE", "MAP_RETRY_TEMPLATE", "MAP_TEMPLATE",
    "MAX_REASON_CHARS", "AttributeMapping", "AttributeValue", "CallRecord", "CategoryChoice",
    "GeneratedContent", "GenerationError", "LLMOptions", "ProductContent", "UnknownSubcategory",
    "WaitingForManualAnswer", "attribute_keys", "attributes_schema", "category_schema", "check_values", "clean_text",
    "generate_product", "identify_category", "map_attributes", "save_product", "validate_attributes",
]
