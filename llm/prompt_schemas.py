"""Output schemas referenced by the llm app's own example templates."""

from pydantic import BaseModel, Field


class EquipmentItem(BaseModel):
    name: str
    cost_gold: float = Field(ge=0)
    reason: str


class EquipmentList(BaseModel):
    items: list[EquipmentItem]
