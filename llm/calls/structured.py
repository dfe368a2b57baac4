"""Structured output: turn untrusted model text into a validated object.

Order of rescue before we give up on an answer: parse as is; strip Markdown code fences;
take the outermost JSON object/array from surrounding prose; repair (json-repair: trailing
commas, single quotes, missing brackets). Then validate with pydantic or a JSON schema.
"""

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
import json_repair
from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


@dataclass
class ParseResult:
    value: Any = None
    error: str = ""
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


@functools.lru_cache(maxsize=512)
def _model_json_schema(model: type[BaseModel]) -> dict:
    # Generating a model's JSON schema costs milliseconds (pydantic walks the whole model each
    # time); pipelines send the same few models hundreds of times.
    return model.model_json_schema()


def schema_of(schema) -> tuple[dict | None, str]:
    """(JSON schema, name) for a pydantic model class or a plain JSON-schema dict.

    The dict is shared between calls for the same model: treat it as read-only (copy to change it).
    """
    if schema is None:
        return None, ""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return _model_json_schema(schema), schema.__name__
    if isinstance(schema, dict):
        return schema, str(schema.get("title") or "response")
    raise TypeError("schema must be a pydantic model class or a JSON-schema dict")


def _loads(text: str) -> tuple[Any, bool]:
    """Return (value, repaired) or raise ValueError with the parser's complaint."""
    try:
        return json.loads(text), False
    except json.JSONDecodeError as first_error:
        candidate = text
        fence = _FENCE.match(candidate)
        if fence:
            candidate = fence.group(1)
            try:
                return json.loads(candidate), True
            except json.JSONDecodeError:
                pass
        start = min((i for i in (candidate.find("{"), candidate.find("[")) if i >= 0), default=-1)
        end = max(candidate.rfind("}"), candidate.rfind("]"))
        if start >= 0 and end > start:
            inner = candidate[start : end + 1]
            try:
                return json.loads(inner), True
            except json.JSONDecodeError:
                candidate = inner
        if start < 0:
            raise ValueError(f"The answer is not JSON: {first_error}") from None
        repaired = json_repair.loads(candidate)
        if repaired in ("", None) or not isinstance(repaired, (dict, list)):
            raise ValueError(f"The answer is not valid JSON and could not be repaired: {first_error}") from None
        return repaired, True


def parse(text: str, schema) -> ParseResult:
    """Parse and validate ``text`` against a pydantic model class or a JSON-schema dict."""
    try:
        value, repaired = _loads(text or "")
    except ValueError as exc:
        return ParseResult(error=str(exc))
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            return ParseResult(value=schema.model_validate(value), repaired=repaired)
        except ValidationError as exc:
            return ParseResult(error=_pydantic_error(exc), repaired=repaired)
    try:
        validator = _validator(json.dumps(schema, sort_keys=True, default=str))
    except jsonschema.SchemaError as exc:
        return ParseResult(error=f"The schema itself is invalid: {exc.message}")
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return ParseResult(error=f"At {where}: {error.message}", repaired=repaired)
    return ParseResult(value=value, repaired=repaired)


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str):
    """A checked validator per distinct schema. ``jsonschema.validate`` checks the schema against
    its metaschema on every call: 17 ms of CPU per answer for the catalog's schema (bench/evals_experiment.py
    --profile), more than the rest of the call path; a schema is checked once here."""
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _pydantic_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:20]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"- {where}: {err['msg']}")
    more = exc.error_count() - 20
    if more > 0:
        lines.append(f"- … and {more} more")
    return "The answer does not match the schema:\n" + "\n".join(lines)
