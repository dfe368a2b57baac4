"""Pydantic schemas of the JSON API (validated by hand in api.py, so bad input is a clear 400)."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(description="Raw product information: pasted text, a title or a supplier description.")
    provider: Name = Field("", description="LLM provider name (default: the configured default).")
    model: Name = Field("", description="Model name (default: the provider's default model).")

    @field_validator("text")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        return value.replace("\x00", "")


class IdentifyIn(_In):
    pass


class MapIn(_In):
    subcategory_id: int = Field(description="The subcategory whose attributes to fill (e.g. from identify-category).")


class GenerateIn(_In):
    subcategory_id: int
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Attribute values by name (e.g. from map-attributes); all must be valid."
    )


class CallOut(BaseModel):
    query_id: int | None
    status: str
    input_tokens: int
    output_tokens: int
    cost_usd: str | None
    latency_ms: int | None


class IdentifyOut(BaseModel):
    category_id: int
    category_name: str
    subcategory_id: int
    subcategory_name: str
    confidence: float
    reason: str
    calls: list[CallOut]


class InvalidAttributeOut(BaseModel):
    name: str
    value: Any
    error: str


class MapOut(BaseModel):
    subcategory_id: int
    attributes: dict[str, Any] = Field(description="The valid values, by attribute name.")
    invalid: list[InvalidAttributeOut] = Field(description="Values that are missing-but-required or still invalid after a re-ask.")
    calls: list[CallOut]


class GenerateOut(BaseModel):
    title: str
    description: str
    bullet_points: list[str]
    search_keywords: list[str]
    calls: list[CallOut]


class ErrorOut(BaseModel):
    detail: str
    errors: list[dict] = []
