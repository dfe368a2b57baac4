"""JSON API under /api/products/: the three generation steps, each usable on its own (stateless).

Bodies are validated with the pydantic schemas in ``schemas.py`` by hand, so a bad body is a
400 that names the field (not ninja's 422). Every endpoint counts against a per-user
fixed-window limit (``PRODUCTS_API_RATE_LIMIT``); over it, a 429 with Retry-After.
"""

import json

from django.http import JsonResponse
from ninja import Router
from pydantic import BaseModel, ValidationError

from llm.errors import LLMConfigurationError

from . import generation, ratelimit
from .generation import CallRecord, GenerationError, LLMOptions, UnknownSubcategory, WaitingForManualAnswer
from .models import Subcategory
from .schemas import ErrorOut, GenerateIn, GenerateOut, IdentifyIn, IdentifyOut, MapIn, MapOut

router = Router(tags=["products"])


def _error(status: int, detail: str, errors: list | None = None, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse({"detail": detail, "errors": errors or []}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _body(request, schema: type[BaseModel]):
    """(payload, None) or (None, a 400 response naming each bad field)."""
    try:
        data = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, _error(400, f"The body is not valid JSON: {exc}.")
    if not isinstance(data, dict):
        return None, _error(400, "The body must be a JSON object.")
    try:
        return schema.model_validate(data), None
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]} for e in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return None, _error(400, f"Invalid request: {summary}", errors)


def _limited(request) -> JsonResponse | None:
    decision = ratelimit.hit(request.user.pk)
    if decision.allowed:
        return None
    return _error(429, decision.message, headers={"Retry-After": str(decision.retry_after)})


def _subcategory_or_400(subcategory_id: int):
    if not Subcategory.objects.filter(pk=subcategory_id).exists():
        return _error(
            400, f"Unknown subcategory_id {subcategory_id}: no subcategory has that id.",
            [{"field": "subcategory_id", "message": f"no subcategory with id {subcategory_id}"}],
        )
    return None


def _calls(calls: list[CallRecord]) -> list[dict]:
    return [
        {
            "query_id": c.query_id, "status": c.status, "input_tokens": c.input_tokens, "output_tokens": c.output_tokens,
            "cost_usd": None if c.cost_usd is None else str(c.cost_usd), "latency_ms": c.latency_ms,
        }
        for c in calls
    ]


def _options(request, payload) -> LLMOptions:
    return LLMOptions(provider=payload.provider, model=payload.model, user=request.user)


def _run(step):
    """The step's result, or the error response for the ways an LLM step ends without one."""
    try:
        return step(), None
    except UnknownSubcategory as exc:
        return None, _error(400, f"Unknown subcategory_id {exc.subcategory_id}: no subcategory has that id.")
    except WaitingForManualAnswer as waiting:
        response = _error(
            202, f"Waiting for a pasted answer: open /llm/manual/{waiting.query_id}/, paste the model's answer, "
            "then send this request again.",
        )
        return None, response
    except LLMConfigurationError as exc:
        return None, _error(400, str(exc))
    except GenerationError as exc:
        if isinstance(exc.__cause__, LLMConfigurationError):
            return None, _error(400, str(exc))
        return None, _error(502, str(exc), [{"calls": _calls(exc.calls)}])


def _doc(schema: type[BaseModel]) -> dict:
    return {"requestBody": {"content": {"application/json": {"schema": schema.model_json_schema()}}, "required": True}}


RESPONSES = {400: ErrorOut, 429: ErrorOut, 502: ErrorOut}


@router.post("/identify-category", response={200: IdentifyOut, 202: ErrorOut, **RESPONSES},
             openapi_extra=_doc(IdentifyIn), summary="Step 2: choose the subcategory among the existing ones")
def identify_category(request):
    if (limited := _limited(request)) is not None:
        return limited
    payload, error = _body(request, IdentifyIn)
    if error is not None:
        return error
    choice, error = _run(lambda: generation.identify_category(payload.text, _options(request, payload)))
    if error is not None:
        return error
    return {
        "category_id": choice.category_id, "category_name": choice.category_name,
        "subcategory_id": choice.subcategory_id, "subcategory_name": choice.subcategory_name,
        "confidence": choice.confidence, "reason": choice.reason, "calls": _calls(choice.calls),
    }


@router.post("/map-attributes", response={200: MapOut, 202: ErrorOut, **RESPONSES},
             openapi_extra=_doc(MapIn), summary="Step 3: fill the subcategory's attributes, each value checked")
def map_attributes(request):
    if (limited := _limited(request)) is not None:
        return limited
    payload, error = _body(request, MapIn)
    if error is not None:
        return error
    if (error := _subcategory_or_400(payload.subcategory_id)) is not None:
        return error
    mapping, error = _run(
        lambda: generation.map_attributes(payload.text, payload.subcategory_id, _options(request, payload))
    )
    if error is not None:
        return error
    return {
        "subcategory_id": mapping.subcategory_id,
        "attributes": mapping.valid,
        "invalid": [{"name": n, "value": v.value, "error": v.error} for n, v in mapping.invalid.items()],
        "calls": _calls(mapping.calls),
    }


@router.post("/generate", response={200: GenerateOut, 202: ErrorOut, **RESPONSES},
             openapi_extra=_doc(GenerateIn), summary="Step 4: title, description, bullet points and search keywords")
def generate(request):
    if (limited := _limited(request)) is not None:
        return limited
    payload, error = _body(request, GenerateIn)
    if error is not None:
        return error
    if (error := _subcategory_or_400(payload.subcategory_id)) is not None:
        return error
    cleaned, problems = generation.validate_attributes(payload.subcategory_id, payload.attributes)
    if problems:
        errors = [{"field": f"attributes.{name}", "message": message} for name, message in problems.items()]
        summary = "; ".join(f"{name}: {message}" for name, message in problems.items())
        return _error(400, f"Invalid attributes: {summary}", errors)
    content, error = _run(
        lambda: generation.generate_product(payload.text, payload.subcategory_id, cleaned, _options(request, payload))
    )
    if error is not None:
        return error
    return {**content.as_dict(), "calls": _calls(content.calls)}
