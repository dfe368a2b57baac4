"""JSON API: start a chained generation, follow it, fetch its files, download the zip, re-run a step."""

import base64
import binascii
from datetime import datetime
from decimal import Decimal

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from llm.errors import LLMConfigurationError

from . import conf, pipeline
from .archive import build_zip, folder_name
from .mockups import MockupError, validate_mockup
from .models import CodegenRun
from .tasks import enqueue

router = Router(tags=["codegen"])


def get_run_for_user(request, run_id: str) -> CodegenRun:
    return get_object_or_404(CodegenRun.objects.for_user(request.user), run_id=run_id)


class GenerateIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field(..., min_length=1, max_length=20_000)
    stack: str = Field("", max_length=300)
    provider: str = Field("", max_length=50)
    model: str = Field("", max_length=100)
    mockup_base64: str | None = Field(None, description="The UI mockup (PNG, JPEG or WebP), base64-encoded.")
    mockup_media_type: str = Field("", max_length=20, description="image/png, image/jpeg or image/webp")


class StartedOut(Schema):
    run_id: str
    status: str
    status_url: str
    results_url: str
    download_url: str
    page_url: str


class StepOut(Schema):
    key: str
    title: str
    status: str
    max_tokens: int
    attempts: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    continuations: int
    repaired: bool
    error: str
    files: int
    started_at: datetime | None
    finished_at: datetime | None
    log: list[str]


class StatusOut(Schema):
    run_id: str
    name: str
    status: str
    failing_step: str
    error: str
    provider: str
    model: str
    total_tokens: int
    total_cost_usd: Decimal | None
    files: int
    steps: list[StepOut]
    log: list[str]
    created_at: datetime
    updated_at: datetime


class FileOut(Schema):
    path: str
    step: str
    purpose: str
    check_status: str
    check_message: str
    repaired: bool
    size: int
    content: str


class ResultsOut(Schema):
    run_id: str
    status: str
    failing_step: str
    files: list[FileOut]
    checks: dict[str, int]


def _urls(run: CodegenRun) -> dict:
    return {
        "status_url": reverse("api:codegen_status", args=[run.run_id]),
        "results_url": reverse("api:codegen_results", args=[run.run_id]),
        "download_url": reverse("api:codegen_download", args=[run.run_id]),
        "page_url": run.get_absolute_url(),
    }


@router.post("/generate/chained", response={201: StartedOut}, summary="Start a chained multi-phase generation")
def generate_chained(request, payload: GenerateIn):
    user = request.user  # the token's user for scripts (accounts.auth sets it), the session's in the browser
    mockup, media_type = None, ""
    if payload.mockup_base64:
        limit = conf.get("MAX_MOCKUP_BYTES")
        if len(payload.mockup_base64) > (limit * 4) // 3 + 8:  # refuse before decoding
            raise HttpError(413, f"The mockup is larger than {limit // 1024} KB.")
        try:
            mockup = base64.b64decode(payload.mockup_base64, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "mockup_base64 is not valid base64.") from None
        try:
            media_type = validate_mockup(mockup, payload.mockup_media_type)
        except MockupError as exc:
            raise HttpError(400, str(exc)) from None
    try:
        run = pipeline.create_run(
            owner=user, name=payload.name, description=payload.description, stack=payload.stack,
            provider=payload.provider, model=payload.model, mockup=mockup, mockup_media_type=media_type,
        )
    except LLMConfigurationError as exc:
        raise HttpError(400, str(exc)) from None
    enqueue(run.pk)
    return Status(201, {"run_id": run.run_id, "status": run.status, **_urls(run)})


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


@router.get("/{run_id}/status", response=StatusOut, url_name="codegen_status", summary="Status of a run and its steps")
def run_status(request, run_id: str):
    run = get_run_for_user(request, run_id)
    steps = []
    for s in run.steps.order_by("position"):
        steps.append({
            "key": s.key, "title": s.title, "status": s.status, "max_tokens": s.max_tokens, "attempts": s.attempts,
            "input_tokens": s.input_tokens, "output_tokens": s.output_tokens, "cost_usd": s.cost_usd,
            "continuations": s.continuations, "repaired": s.repaired, "error": s.error, "files": s.files.count(),
            "started_at": s.started_at, "finished_at": s.finished_at, "log": _lines(s.log),
        })
    return {
        "run_id": run.run_id, "name": run.name, "status": run.status, "failing_step": run.failing_step,
        "error": run.error, "provider": run.provider_name, "model": run.model_name, "total_tokens": run.total_tokens,
        "total_cost_usd": run.total_cost_usd, "files": run.files.count(), "steps": steps, "log": _lines(run.log),
        "created_at": run.created_at, "updated_at": run.updated_at,
    }


@router.get("/{run_id}/results", response=ResultsOut, url_name="codegen_results",
            summary="The generated files with their check results")
def run_results(request, run_id: str):
    run = get_run_for_user(request, run_id)
    files = list(run.files.select_related("step").order_by("step__position", "path"))
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    for f in files:
        counts[f.check_status] = counts.get(f.check_status, 0) + 1
    return {
        "run_id": run.run_id, "status": run.status, "failing_step": run.failing_step, "checks": counts,
        "files": [
            {"path": f.path, "step": f.step.key, "purpose": f.purpose, "check_status": f.check_status,
             "check_message": f.check_message, "repaired": f.repaired, "size": f.size, "content": f.content}
            for f in files
        ],
    }


@router.get("/{run_id}/download", url_name="codegen_download", summary="The generated project as a zip")
def run_download(request, run_id: str):
    run = get_run_for_user(request, run_id)
    response = HttpResponse(build_zip(run), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{folder_name(run)}-{run.run_id}.zip"'
    return response


@router.post("/{run_id}/steps/{key}/rerun", response={202: StartedOut}, summary="Re-run one step alone")
def rerun_step(request, run_id: str, key: str):
    run = get_run_for_user(request, run_id)
    try:
        only = pipeline.prepare_rerun(run, key)
    except pipeline.RerunRefused as exc:
        raise HttpError(409, str(exc)) from None
    enqueue(run.pk, only)
    run.refresh_from_db()
    return Status(202, {"run_id": run.run_id, "status": run.status, **_urls(run)})
