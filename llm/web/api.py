from datetime import datetime
from decimal import Decimal

from django.shortcuts import get_object_or_404
from typing import Annotated

from ninja import Field, FilterLookup, FilterSchema, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination, paginate

from ..calls import create_job
from ..calls import pending_for, submit_answer
from ..models import LLMJob, LLMModel, LLMProvider, LLMQuery, ManualInteraction
from ..providers import resolve_target
from ..errors import LLMConfigurationError

router = Router(tags=["llm"])


class ProviderOut(Schema):
    name: str
    display_name: str
    kind: str
    enabled: bool
    configured: bool
    problem: str
    default_model: str

    @staticmethod
    def resolve_configured(obj):
        return obj.is_configured

    @staticmethod
    def resolve_problem(obj):
        return obj.configuration_problem()


class ModelOut(Schema):
    provider: str = Field(..., alias="provider.name")
    name: str
    context_window: int | None
    max_output_tokens: int | None
    input_price_per_1m: Decimal | None
    cached_input_price_per_1m: Decimal | None
    output_price_per_1m: Decimal | None
    price_known: bool
    supports_vision: bool
    supports_json_schema: bool
    supports_image_generation: bool


class QueryOut(Schema):
    id: int
    purpose: str
    run_id: str
    interaction_type: str
    batch: int | None
    provider: str = Field(..., alias="provider_name")
    model: str = Field(..., alias="model_name")
    status: str
    attempt: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal | None
    latency_ms: int | None
    error: str
    cache_key: str
    file_path: str
    file_sha256: str
    created_at: datetime


class QueryFilter(FilterSchema):
    status: str | None = None
    purpose: Annotated[str | None, FilterLookup("purpose__startswith")] = None
    run_id: str | None = None
    provider: Annotated[str | None, FilterLookup("provider_name")] = None


class PendingOut(Schema):
    query_id: int
    purpose: str = Field(..., alias="query.purpose")
    prompt: str = Field(..., alias="prompt_text")
    answer_schema: dict | None = Field(None, alias="json_schema")
    created_at: datetime
    last_error: str


class PasteIn(Schema):
    answer: str
    model_name: str = ""


class PasteOut(Schema):
    accepted: bool
    query_id: int
    status: str


class JobIn(Schema):
    prompt: str = Field(..., min_length=1)
    provider: str | None = None
    model: str = ""
    system: str = ""
    max_tokens: int | None = Field(None, ge=1, le=200_000)
    temperature: float | None = Field(None, ge=0, le=2)


class JobOut(Schema):
    id: int
    status: str
    provider: str = Field(..., alias="provider.name")
    model_name: str
    result_text: str
    error: str
    query_id: int | None
    pending_query_id: int | None
    created_at: datetime


@router.get("/providers", response=list[ProviderOut], summary="Providers and whether each is configured")
def list_providers(request):
    return list(LLMProvider.objects.all())


@router.get("/models", response=list[ModelOut], summary="Models with their prices (USD per 1M tokens)")
def list_models(request):
    return list(LLMModel.objects.visible_to(request.user).select_related("provider").filter(enabled=True))


@router.get("/queries", response=list[QueryOut], summary="Logged calls (your own; staff see all)")
@paginate(LimitOffsetPagination)
def list_queries(request, filters: Query[QueryFilter]):
    return filters.filter(LLMQuery.objects.visible_to(request.user))


@router.get("/queries/{query_id}", response=QueryOut)
def get_query(request, query_id: int):
    return get_object_or_404(LLMQuery.objects.visible_to(request.user), pk=query_id)


@router.get("/manual/pending", response=list[PendingOut], summary="Prompts waiting for a pasted answer")
def list_pending(request):
    return list(pending_for(request.user).order_by("created_at"))


@router.post("/manual/{query_id}/answer", response={200: PasteOut, 400: dict}, summary="Paste the answer to a waiting prompt")
def paste_answer(request, query_id: int, payload: PasteIn):
    qs = ManualInteraction.objects.all() if request.user.is_staff else ManualInteraction.objects.filter(query__user=request.user)
    get_object_or_404(qs, query_id=query_id)
    result = submit_answer(query_id, payload.answer, payload.model_name, request.user)
    if not result.ok:
        return Status(400, {"detail": result.error, "query_id": query_id})
    return Status(200, {"accepted": True, "query_id": query_id, "status": result.query.status})


@router.post("/jobs", response={201: JobOut}, summary="Run one prompt as a background job")
def start_job(request, payload: JobIn):
    try:
        provider, model = resolve_target(payload.provider, payload.model)  # a known model picks its provider
    except LLMConfigurationError as exc:
        raise HttpError(400, str(exc)) from None
    problem = provider.configuration_problem()
    if problem:
        raise HttpError(400, problem)
    job = create_job(
        user=request.user, provider=provider, prompt=payload.prompt, model_name=model or "",
        system_prompt=payload.system, max_tokens=payload.max_tokens, temperature=payload.temperature,
    )
    return Status(201, LLMJob.objects.select_related("provider").get(pk=job.pk))


@router.get("/jobs/{job_id}", response=JobOut)
def get_job(request, job_id: int):
    return get_object_or_404(LLMJob.objects.for_user(request.user).select_related("provider"), pk=job_id)


class UsageRow(Schema):
    key: str
    calls: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal
    saved_cost_usd: Decimal
    prompt_cache_saved_usd: Decimal = Decimal("0")  # saved by the providers' prompt caching
    unknown_cost_calls: int


class UsageOut(Schema):
    start: str
    end: str
    totals: UsageRow
    daily: list[UsageRow]
    monthly: list[UsageRow]
    by: dict[str, list[UsageRow]]
    unknown_prices: list[dict]


def _usage_row(key, r) -> dict:
    return {"key": str(key), **{k: r.get(k) or 0 for k in ("calls", "input_tokens", "cached_input_tokens", "output_tokens",
                                                         "reasoning_tokens", "cost_usd", "saved_cost_usd", "prompt_cache_saved_usd",
                                                         "unknown_cost_calls")}}


@router.get("/usage", response=UsageOut, summary="Spend and tokens per day, month and dimension (your own; staff: everyone's)")
def usage_api(request, start: str | None = None, end: str | None = None, user_id: int | None = None,
              provider: str = "", model: str = "", purpose: str = "", mode: str = ""):
    from datetime import date as _date

    from ..records import usage

    f = usage.Filters.default()
    try:
        f.start = _date.fromisoformat(start) if start else f.start
        f.end = _date.fromisoformat(end) if end else f.end
    except ValueError:
        raise HttpError(400, "start and end are dates: YYYY-MM-DD.") from None
    if f.start > f.end:
        raise HttpError(400, "start must be on or before end.")
    f.user_id, f.provider, f.model, f.purpose, f.mode = user_id, provider, model, purpose, mode
    data = usage.summary(usage.rollups(request.user, f), with_users=request.user.is_staff)
    keys = {"user": "user", "app": "app", "purpose": "purpose", "provider": "provider_name", "model": "model_name", "mode": "key_source"}
    by = {name: [_usage_row(r[field], r) for r in data["breakdowns"][name]] for name, field in keys.items()
          if name in data["breakdowns"]}
    return {
        "start": str(f.start), "end": str(f.end), "totals": _usage_row("total", data["totals"]),
        "daily": [_usage_row(r["day"], r) for r in data["days"]],
        "monthly": [_usage_row(r["month"].strftime("%Y-%m"), r) for r in data["months"]],
        "by": by, "unknown_prices": data["unknown_prices"],
    }
