"""The stages' prompts (llm templates segmentation.*), the per-prompt schemas (ids constrained to
the prompt's own), and answer salvage."""

import json
import re
from functools import lru_cache
from typing import Annotated

import json_repair
from pydantic import BaseModel, Field, create_model

from llm import prompts

VERSION = "v0"

# name in the code -> (llm template, archive name from seed 004 section 4)
TEMPLATES = {
    "extract": ("segmentation.extract_taxonomy", "extract_taxonomy_prompt"),
    "consolidate": ("segmentation.consolidate_taxonomy", "consolidate_taxonomy_prompt"),
    "refine": ("segmentation.refine_assignments", "refine_assignments_prompt"),
    "retry": ("segmentation.shared_retry", "shared_retry_prompt"),
}
TEMPLATE_VERSION = int(VERSION[1:])


def template_text(name: str) -> str:
    """The template as written (placeholders and the stable-prefix marker included): archived per run."""
    return prompts.get(TEMPLATES[name][0], TEMPLATE_VERSION).user


def render(name: str, **values) -> str:
    return prompts.render(TEMPLATES[name][0], values, version=TEMPLATE_VERSION).user


_SPACES = re.compile(r"\s+")


def one_line(text: str, limit: int) -> str:
    text = _SPACES.sub(" ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def product_line(label: str, title: str, brand: str = "", description: str = "", extra: str = "",
                 details: int = 240) -> str:
    """``details``: characters of the description shown (0: none)."""
    parts = [f"{label}: {one_line(title, 200)}"]
    if brand:
        parts.append(f"brand: {one_line(brand, 60)}")
    if description and details > 0:
        parts.append(f"details: {one_line(description, details)}")
    if extra:
        parts.append(extra)
    return " | ".join(parts)


def _id_type(ids):
    # Sent to the provider as an enum (so strict structured output cannot invent ids); validated
    # leniently here so one stray id does not throw away the rest of the answer.
    return Annotated[str, Field(json_schema_extra={"enum": list(ids)})]


class NamedSegment(BaseModel):
    name: str
    definition: str


# Schemas are cached by their ids: labels are P_1..P_n per batch, so a run builds only a few.
def extract_schema(product_labels: list[str]) -> type[BaseModel]:
    return _extract_schema(tuple(product_labels))


@lru_cache(maxsize=256)
def _extract_schema(product_labels: tuple[str, ...]) -> type[BaseModel]:
    assignment = create_model(
        "ExtractAssignment", product_id=(_id_type(product_labels), ...), segment=(str, ...), confidence=(float, ...)
    )
    return create_model("ExtractTaxonomyAnswer", segments=(list[NamedSegment], ...), assignments=(list[assignment], ...))


def consolidate_schema(input_labels: list[str]) -> type[BaseModel]:
    return _consolidate_schema(tuple(input_labels))


@lru_cache(maxsize=256)
def _consolidate_schema(input_labels: tuple[str, ...]) -> type[BaseModel]:
    segment = create_model(
        "ConsolidatedSegment", name=(str, ...), definition=(str, ...), merged_ids=(list[_id_type(input_labels)], ...)
    )
    return create_model("ConsolidateTaxonomyAnswer", segments=(list[segment], ...))


def refine_schema(product_labels: list[str], segment_labels: list[str]) -> type[BaseModel]:
    return _refine_schema(tuple(product_labels), tuple(segment_labels))


@lru_cache(maxsize=256)
def _refine_schema(product_labels: tuple[str, ...], segment_labels: tuple[str, ...]) -> type[BaseModel]:
    assignment = create_model(
        "RefinedAssignment", product_id=(_id_type(product_labels), ...), segment_id=(_id_type(segment_labels), ...)
    )
    return create_model("RefineAssignmentsAnswer", assignments=(list[assignment], ...))


def salvage(text: str) -> dict:
    """Whatever JSON object can be recovered from a cut-off or malformed answer ({} if none)."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        start = text.find("{")
        if start < 0:
            return {}
        try:
            value = json_repair.loads(text[start:])
        except Exception:  # json-repair gives up on some inputs: nothing to salvage
            return {}
    return value if isinstance(value, dict) else {}
