"""What the generation steps return and raise: options in, results and logged calls out."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, field_validator


@dataclass
class LLMOptions:
    provider: str = ""
    model: str = ""
    user: Any = None
    run_id: str = ""
    fresh: bool = False  # skip the llm answer cache (the user asked for a new answer)
    # Set by evaluation runs (products/evals.py): the case's batch number and the variant's parameters.
    batch: int | None = None
    temperature: float | None = None
    # When set, the call streams (llm.stream) and each chunk goes to stream_to(text, attempt);
    # a llm.calls.live.StopStream raised by it stops the call (products/live.py, the content step's page).
    stream_to: Any = None
    # False: record only the calls' ids, not their prompts and answers (evaluation runs read the
    # ids; reading back each call's row and interaction file cost a quarter of a case's CPU).
    debug_records: bool = True


@dataclass
class CallRecord:
    """One logged model call, as the debug panel shows it."""

    query_id: int | None
    prompt: str = ""
    raw_answer: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = None
    latency_ms: int | None = None
    status: str = "ok"  # ok, rejected, failed, waiting_manual (GenerationStepLog.Status)
    error: str = ""


class GenerationError(Exception):
    """A step could not produce a usable result; the message says why and what to do."""

    def __init__(self, message: str, *, calls: list[CallRecord] | None = None, query_id: int | None = None):
        super().__init__(message)
        self.calls = calls or []
        self.query_id = query_id


class UnknownSubcategory(GenerationError):
    def __init__(self, subcategory_id):
        super().__init__(f"There is no subcategory with id {subcategory_id}.")
        self.subcategory_id = subcategory_id


class WaitingForManualAnswer(Exception):
    """The step's prompt went to the copy/paste provider; run the step again after the paste."""

    def __init__(self, query_id: int, calls: list[CallRecord]):
        super().__init__(f"Waiting for a pasted answer to query #{query_id}.")
        self.query_id = query_id
        self.calls = calls


@dataclass
class CategoryChoice:
    category_id: int
    category_name: str
    subcategory_id: int
    subcategory_name: str
    confidence: float
    reason: str
    calls: list[CallRecord] = field(default_factory=list)


@dataclass
class AttributeValue:
    value: Any  # the cleaned value when ok, else what the model said
    ok: bool
    error: str = ""

    def as_dict(self) -> dict:
        return {"value": self.value, "ok": self.ok, "error": self.error}


@dataclass
class AttributeMapping:
    subcategory_id: int
    values: dict[str, AttributeValue]
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def valid(self) -> dict:
        return {name: v.value for name, v in self.values.items() if v.ok and v.value is not None}

    @property
    def invalid(self) -> dict[str, AttributeValue]:
        return {name: v for name, v in self.values.items() if not v.ok}


class ProductContent(BaseModel):
    """Step 4's schema. The validators run on the answer; a violation is re-asked by llm."""

    title: str
    description: str
    bullet_points: list[str]
    search_keywords: list[str]

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("the title is empty")
        if len(value) > 300:
            raise ValueError(f"the title has {len(value)} characters; keep it under 200")
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the description is empty")
        return value

    @field_validator("bullet_points", "search_keywords")
    @classmethod
    def _texts(cls, values: list[str]) -> list[str]:
        cleaned = [" ".join(v.split()) for v in values]
        cleaned = [v for v in cleaned if v]
        if len(cleaned) > 20:
            raise ValueError(f"{len(cleaned)} items is too many; give at most 12")
        return cleaned


@dataclass
class GeneratedContent:
    title: str
    description: str
    bullet_points: list[str]
    search_keywords: list[str]
    calls: list[CallRecord] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "description": self.description,
            "bullet_points": list(self.bullet_points),
            "search_keywords": list(self.search_keywords),
        }
