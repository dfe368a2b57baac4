"""Step 3, map the attributes: the subcategory's attribute values read from the product text.

``build_prompt`` (the attribute list, JSON keys the providers accept), ``read_answer`` (one
answer, parsed or raw text, every value through ``AttributeDefinition.validate_value``: no live
call) and ``write_results`` (onto a wizard session); ``map_attributes`` chains them with one
re-ask of the values present but invalid.
"""

from __future__ import annotations

import json
import logging
import re

from llm.calls.structured import parse

from .. import catalog, prompting
from ..models import AttributeDefinition, AttributeType, Subcategory
from .calling import MAP_RETRY_TEMPLATE, MAP_TEMPLATE, ask, clean_text, reject
from .results import AttributeMapping, AttributeValue, CallRecord, GenerationError, LLMOptions, UnknownSubcategory

logger = logging.getLogger("products.generation")


def attribute_keys(definitions: list[AttributeDefinition]) -> dict[str, AttributeDefinition]:
    """JSON keys for the schema (some providers accept only [A-Za-z0-9_] property names)."""
    keys: dict[str, AttributeDefinition] = {}
    for definition in definitions:
        base = re.sub(r"[^a-z0-9]+", "_", definition.name.lower()).strip("_")[:50] or "attribute"
        key, n = base, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys[key] = definition
    return keys


def describe(definition: AttributeDefinition) -> str:
    required = "required" if definition.required else "optional"
    if definition.type == AttributeType.NUMBER:
        what = f"a number in {definition.unit}" if definition.unit else "a number"
    elif definition.type == AttributeType.BOOLEAN:
        what = "true or false"
    elif definition.type == AttributeType.ONE_OF:
        what = "one of: " + ", ".join(definition.allowed_values)
    elif definition.type == AttributeType.MANY_OF:
        what = "a list of any of: " + ", ".join(definition.allowed_values)
    else:
        what = "text"
    return f"{definition.name}: {what} ({required})"


def _value_schema(definition: AttributeDefinition) -> dict:
    description = describe(definition)
    if definition.type == AttributeType.NUMBER:
        return {"type": ["number", "null"], "description": description}
    if definition.type == AttributeType.BOOLEAN:
        return {"type": ["boolean", "null"], "description": description}
    if definition.type == AttributeType.MANY_OF:
        return {"type": ["array", "null"], "items": {"type": "string"}, "description": description}
    # One-of values are not an enum on purpose: an answer outside the list must reach us, to be
    # re-asked with the reason and, if still wrong, shown to the user instead of failing the step.
    return {"type": ["string", "null"], "description": description}


def attributes_schema(keys: dict[str, AttributeDefinition]) -> dict:
    return {
        "title": "ProductAttributes",
        "type": "object",
        "properties": {key: _value_schema(d) for key, d in keys.items()},
        "required": list(keys),
        "additionalProperties": False,
    }


def check_values(keys: dict[str, AttributeDefinition], answer: dict) -> dict[str, AttributeValue]:
    values = {}
    for key, definition in keys.items():
        raw = answer.get(key) if isinstance(answer, dict) else None
        ok, cleaned, error = definition.validate_value(raw)
        values[definition.name] = AttributeValue(value=cleaned if ok else raw, ok=ok, error=error)
    return values


def build_prompt(text: str, info: dict, keys: dict[str, AttributeDefinition]) -> list[dict]:
    lines = "\n".join(f"- {key}: {describe(d)}" for key, d in keys.items())
    prompt = prompting.render(MAP_TEMPLATE,
        subcategory=info["name"], category=info["category_name"], attributes=lines, text=text
    )
    return [{"role": "user", "content": prompt}]


def read_answer(answer, keys: dict[str, AttributeDefinition]) -> dict[str, AttributeValue]:
    """Every attribute's value from one answer (the parsed dict of a live call, or raw text), each
    checked by its definition: invalid ones come back flagged, not dropped. Raw text that breaks
    the schema's types (a "600 W" for a number) is still read value by value, as
    ``validate_value`` is lenient about form and strict about meaning."""
    if isinstance(answer, str):
        parsed = parse(answer, attributes_schema(keys))
        if parsed.ok:
            answer = parsed.value
        else:
            try:
                answer = json.loads(answer)
            except ValueError:
                answer = {}
    return check_values(keys, answer)


def invalid(keys: dict[str, AttributeDefinition], values: dict[str, AttributeValue]) -> dict[str, AttributeDefinition]:
    """Present but invalid values (to re-ask); a missing value is the text's silence, not an error to argue."""
    return {key: d for key, d in keys.items() if not values[d.name].ok and values[d.name].value not in (None, "", [])}


def write_results(session, mapping: AttributeMapping) -> None:
    """The model's values (with their checks) onto a wizard session, kept apart from the user's edits."""
    session.mapped_attributes = {
        "subcategory_id": mapping.subcategory_id,
        "values": {name: v.as_dict() for name, v in mapping.values.items()},
    }
    session.save()


def map_attributes(text: str, subcategory_id: int, options: LLMOptions) -> AttributeMapping:
    text = clean_text(text)
    info = catalog.subcategory_info(subcategory_id)
    if info is None or not Subcategory.objects.filter(pk=subcategory_id).exists():
        raise UnknownSubcategory(subcategory_id)
    keys = attribute_keys(catalog.definitions(subcategory_id))
    if not keys:
        return AttributeMapping(subcategory_id=subcategory_id, values={})
    schema = attributes_schema(keys)
    messages = build_prompt(text, info, keys)
    calls: list[CallRecord] = []
    result = ask("map_attributes", messages, schema, options, MAP_TEMPLATE, calls)
    values = read_answer(result.parsed, keys)
    wrong = invalid(keys, values)
    if wrong:
        errors = "\n".join(
            f"- {key} ({d.name}): {values[d.name].error}" for key, d in wrong.items()
        )
        reject(calls, "Invalid values:\n" + errors)
        retry = messages + [
            {"role": "assistant", "content": result.text},
            {"role": "user", "content": prompting.render(MAP_RETRY_TEMPLATE, errors=errors)},
        ]
        try:
            second = ask("map_attributes", retry, schema, options, MAP_RETRY_TEMPLATE, calls)
        except GenerationError:
            # The first answer's valid values still stand; the wrong ones stay flagged for the user.
            logger.info("Re-asking invalid attribute values failed for subcategory %s", subcategory_id)
        else:
            again = read_answer(second.parsed, keys)
            still = []
            for key, d in wrong.items():
                values[d.name] = again[d.name]
                if not again[d.name].ok:
                    still.append(f"- {key} ({d.name}): {again[d.name].error}")
            if still:
                reject(calls, "Still invalid, shown to the user:\n" + "\n".join(still))
    return AttributeMapping(subcategory_id=subcategory_id, values=values, calls=calls)


def validate_attributes(subcategory_id: int, attributes: dict) -> tuple[dict, dict[str, str]]:
    """(cleaned values, {name: error}) for user- or API-given values by attribute name."""
    definitions = {d.name: d for d in catalog.definitions(subcategory_id)}
    cleaned, errors = {}, {}
    for name in attributes:
        if name not in definitions:
            errors[name] = "is not an attribute of this subcategory"
    for name, definition in definitions.items():
        if name not in attributes:
            continue
        ok, value, error = definition.validate_value(attributes[name])
        if not ok:
            errors[name] = error
        elif value is not None:
            cleaned[name] = value
    return cleaned, errors
