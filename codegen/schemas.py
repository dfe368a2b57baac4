"""Structured answers the steps ask for (validated with pydantic by llm.calls.structured)."""

from pydantic import BaseModel, Field


class PlannedPage(BaseModel):
    name: str
    route: str
    purpose: str


class PlannedComponent(BaseModel):
    name: str
    purpose: str


class PlannedEndpoint(BaseModel):
    method: str
    path: str
    purpose: str


class PlannedTable(BaseModel):
    name: str
    columns: list[str]


class ArchitecturePlan(BaseModel):
    """Step 1: what the project consists of."""

    summary: str
    pages: list[PlannedPage]
    components: list[PlannedComponent]
    api_endpoints: list[PlannedEndpoint]
    database_tables: list[PlannedTable]


class FileSpec(BaseModel):
    path: str = Field(description="Relative path from the project root, forward slashes, e.g. backend/main.py")
    content: str = Field(description="The complete file content")
    purpose: str = Field(description="One sentence: what the file is for")


class FileBatch(BaseModel):
    """Steps 2-5: the files of one step."""

    files: list[FileSpec]
