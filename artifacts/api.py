"""JSON API under /api/artifacts/ (seed 001 paths). Owners only: others' notes and artifacts are 404."""

from datetime import datetime
from typing import Literal
from decimal import Decimal

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.views.decorators.debug import sensitive_variables
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from notes.models import Note

from . import pipeline, webhooks
from .models import ArtifactType, BatchRun, GenerationMode, NoteArtifact, UserApiKey, Webhook
from .tasks import enqueue_batch, enqueue_generation

router = Router(tags=["artifacts"])

MAX_BATCH = 50


def get_artifact_for_user(request, pk: int) -> NoteArtifact:
    """The request user's artifact ``pk``; anyone else's is a 404."""
    return get_object_or_404(NoteArtifact.objects.for_user(request.user).select_related("note"), pk=pk)


def _note(request, note_id: int) -> Note:
    return get_object_or_404(Note.objects.for_user(request.user), pk=note_id)


class GenerateIn(Schema):
    artifact_type: str = Field(ArtifactType.SUMMARY, description="One of: " + ", ".join(ArtifactType.values))
    user_description: str = Field("", max_length=2000)
    generation_mode: str = Field(GenerationMode.APP_KEY, description="app_key, copy_paste, user_key or browser (answered like copy_paste: post the answer to /api/artifacts/paste)")
    provider: str = Field("", description="user_key mode: the provider of your saved key")
    model: str = Field("", description="user_key mode: a model of that provider (default: its default model)")


class PartOut(Schema):
    name: str
    label: str
    original_chars: int
    kept_chars: int
    kept_tokens: int
    cut: bool
    dropped: bool


class TruncationOut(Schema):
    template: str
    input_tokens: int
    budget_tokens: int
    limits: dict
    parts: list[PartOut]
    cut: list[str]
    summary: str


class PreviewOut(Schema):
    artifact_type: str
    generation_mode: str
    provider: str
    model: str
    system: str
    prompt: str
    input_tokens: int
    max_output_tokens: int
    estimated_cost_usd: Decimal | None
    max_cost_usd: Decimal | None
    price_known: bool
    image_model: str = Field("", description="image type: the model that draws the picture")
    image_cost_usd: Decimal | None = Field(None, description="image type: price of the picture (included above)")
    image_note: str = ""
    truncation: TruncationOut
    problem: str = Field(..., description="Empty when the call can be made; else what to fix first.")


class ArtifactOut(Schema):
    id: int
    note_id: int
    artifact_type: str
    user_description: str
    generation_mode: str
    origin: str
    provider: str
    model: str
    status: str
    error: str
    content: str
    structured_content: dict | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    version: int
    parent_id: int | None
    query_id: int | None
    pending_query_id: int | None
    manual_prompt: str = ""
    truncation_summary: str = ""
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_manual_prompt(obj):
        return pipeline.pending_prompt(obj) if obj.status == NoteArtifact.Status.WAITING_MANUAL else ""

    @staticmethod
    def resolve_truncation_summary(obj):
        return (obj.context_report or {}).get("summary", "")


class PasteIn(Schema):
    artifact_id: int
    answer: str
    model_name: str = Field("", max_length=100, description="Which chat LLM answered (kept as attribution).")


class PasteRejected(Schema):
    detail: str
    artifact_id: int
    answer: str = Field(..., description="Your pasted text, returned so it is not lost.")


class EditIn(Schema):
    content: str


class RegenerateIn(Schema):
    generation_mode: str | None = None
    user_description: str | None = None


class KeyIn(Schema):
    provider: str = Field(..., min_length=1, max_length=50)
    api_key: str = Field(..., min_length=8, max_length=500)


class KeyOut(Schema):
    id: int
    provider: str
    masked: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    last_used_at: datetime | None
    created_at: datetime


class WebhookIn(Schema):
    # The length is checked by webhooks.url_problem with the other rules (one message for form and API).
    url: str = Field(..., max_length=8192, description="http(s) URL on a public address, at most 2000 characters")


class WebhookOut(Schema):
    id: int
    url: str
    active: bool
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(..., description="Shown once: verify X-Webhook-Signature (t=<timestamp>,v1=HMAC-SHA256 of "
                                         "'<timestamp>.<body>') with it and refuse timestamps over 5 minutes old.")


class DeliveryOut(Schema):
    id: int
    artifact_id: int | None
    event: str
    status: str
    attempts: int
    response_status: int | None
    error: str
    log: list
    created_at: datetime
    delivered_at: datetime | None


class BatchIn(Schema):
    note_ids: list[int] = Field(..., min_length=1, max_length=MAX_BATCH)
    artifact_type: str
    generation_mode: str = GenerationMode.APP_KEY
    user_description: str = Field("", max_length=2000)
    delivery: Literal["interactive", "batch"] = Field(
        "interactive", description="batch: all notes in one provider batch at batch prices (answers within 24 hours)")


class BatchItemOut(Schema):
    note_id: int
    artifact_id: int | None
    status: str
    error: str


class BatchOut(Schema):
    id: int
    artifact_type: str
    generation_mode: str
    progress: dict
    items: list[BatchItemOut]


def _fresh(artifact: NoteArtifact) -> NoteArtifact:
    return NoteArtifact.objects.get(pk=artifact.pk)


@router.post("/preview/note/{note_id}", response=PreviewOut, summary="The prompt, its tokens and cost estimate; no call")
def preview(request, note_id: int, payload: GenerateIn):
    note = _note(request, note_id)
    try:
        return pipeline.preview(note, request.user, payload.artifact_type, payload.user_description,
                                payload.generation_mode, payload.provider, payload.model)
    except pipeline.GenerationSetupError as exc:
        raise HttpError(400, str(exc)) from None


@router.post("/generate/note/{note_id}", response={202: ArtifactOut}, summary="Generate an artifact (a Celery job)")
def generate(request, note_id: int, payload: GenerateIn):
    note = _note(request, note_id)
    try:
        with transaction.atomic():
            artifact = pipeline.create_artifact(note, request.user, payload.artifact_type, payload.user_description,
                                                payload.generation_mode, payload.provider, payload.model)
            enqueue_generation(artifact.pk)
    except pipeline.GenerationSetupError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(202, _fresh(artifact))


@router.post("/paste", response={200: ArtifactOut, 400: PasteRejected}, summary="Paste a chat LLM's answer to a waiting artifact")
def paste(request, payload: PasteIn):
    artifact = get_artifact_for_user(request, payload.artifact_id)
    result = pipeline.submit_paste(artifact, payload.answer, payload.model_name, request.user)
    if not result.ok:
        return Status(400, {"detail": result.error, "artifact_id": artifact.pk, "answer": payload.answer})
    return Status(200, _fresh(artifact))


@router.get("/keys", response=list[KeyOut], summary="Your saved provider keys (masked)")
def list_keys(request):
    return list(UserApiKey.objects.for_user(request.user))


@router.post("/keys", response={201: KeyOut}, summary="Save (or replace) your key for a provider")
@sensitive_variables("payload")
def save_key(request, payload: KeyIn):
    from llm.models import LLMProvider

    provider = LLMProvider.objects.filter(name=payload.provider).exclude(kind=LLMProvider.Kind.MANUAL).first()
    if provider is None:
        raise HttpError(400, f"Unknown provider {payload.provider!r}.")
    key = UserApiKey.objects.for_user(request.user).filter(provider=provider.name).first() or UserApiKey(
        user=request.user, provider=provider.name
    )
    key.set_key(payload.api_key)
    key.save()
    return Status(201, key)


@router.delete("/keys/{key_id}", response={204: None})
def delete_key(request, key_id: int):
    get_object_or_404(UserApiKey.objects.for_user(request.user), pk=key_id).delete()
    return Status(204, None)


@router.get("/webhooks", response=list[WebhookOut])
def list_webhooks(request):
    return list(Webhook.objects.for_user(request.user))


@router.post("/webhooks", response={201: WebhookCreatedOut}, summary="Register a URL for signed artifact.completed POSTs")
def create_webhook(request, payload: WebhookIn):
    problem = webhooks.url_problem(payload.url)
    if problem:
        raise HttpError(422, problem)
    problem = webhooks.check_url(payload.url)
    if problem:
        raise HttpError(400, problem)
    return Status(201, Webhook.objects.create(user=request.user, url=payload.url))


@router.delete("/webhooks/{webhook_id}", response={204: None})
def delete_webhook(request, webhook_id: int):
    get_object_or_404(Webhook.objects.for_user(request.user), pk=webhook_id).delete()
    return Status(204, None)


@router.get("/webhooks/{webhook_id}/deliveries", response=list[DeliveryOut])
def list_deliveries(request, webhook_id: int):
    hook = get_object_or_404(Webhook.objects.for_user(request.user), pk=webhook_id)
    return list(hook.deliveries.all()[:100])


def batch_out(batch: BatchRun) -> dict:
    items = [
        {"note_id": a.note_id, "artifact_id": a.pk, "status": a.status, "error": a.error}
        for a in batch.artifacts.order_by("id")
    ]
    return {"id": batch.pk, "artifact_type": batch.artifact_type, "generation_mode": batch.generation_mode,
            "progress": batch.progress(), "items": items}


@router.post("/batch", response={202: BatchOut}, summary="One artifact type for several notes (a Celery group)")
def create_batch(request, payload: BatchIn):
    notes = list(Note.objects.for_user(request.user).filter(pk__in=payload.note_ids))
    if len(notes) != len(set(payload.note_ids)):
        raise HttpError(404, "Not found: one or more notes do not exist.")
    try:
        with transaction.atomic():
            batch, ids = pipeline.create_batch(request.user, notes, payload.artifact_type, payload.generation_mode,
                                               payload.user_description, delivery=payload.delivery)
            enqueue_batch(ids)
    except pipeline.GenerationSetupError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(202, batch_out(BatchRun.objects.get(pk=batch.pk)))


@router.get("/batch/{batch_id}", response=BatchOut)
def get_batch(request, batch_id: int):
    return batch_out(get_object_or_404(BatchRun.objects.for_user(request.user), pk=batch_id))


@router.get("/usage", summary="Artifact spend per day and month, per type (and per user for staff)")
def usage_api(request, start: str | None = None, end: str | None = None):
    from .analytics import usage

    return usage(request.user, *_dates(start, end))


@router.get("/analytics", summary="Success rate per type and mode, popular types, requested types, cost trend")
def analytics_api(request, start: str | None = None, end: str | None = None):
    from .analytics import analytics

    return analytics(request.user, *_dates(start, end))


def _dates(start, end):
    from datetime import date

    try:
        s = date.fromisoformat(start) if start else None
        e = date.fromisoformat(end) if end else None
    except ValueError:
        raise HttpError(400, "start and end are dates: YYYY-MM-DD.") from None
    if s and e and s > e:
        raise HttpError(400, "start must be on or before end.")
    return s, e


@router.get("/", response=list[ArtifactOut], summary="Your artifacts (newest first; filter by note)")
def list_artifacts(request, note_id: int | None = None, limit: int = 50):
    qs = NoteArtifact.objects.for_user(request.user)
    if note_id is not None:
        qs = qs.filter(note_id=note_id)
    return list(qs[: max(1, min(limit, 200))])


@router.get("/{artifact_id}", response=ArtifactOut)
def get_artifact(request, artifact_id: int):
    return get_artifact_for_user(request, artifact_id)


@router.get("/{artifact_id}/versions", response=list[ArtifactOut], summary="Every version of this artifact, oldest first")
def versions(request, artifact_id: int):
    return get_artifact_for_user(request, artifact_id).history()


@router.post("/{artifact_id}/regenerate", response={202: ArtifactOut})
def regenerate(request, artifact_id: int, payload: RegenerateIn):
    artifact = get_artifact_for_user(request, artifact_id)
    try:
        with transaction.atomic():
            new = pipeline.regenerate(artifact, request.user, payload.generation_mode, payload.user_description)
            enqueue_generation(new.pk)
    except pipeline.GenerationSetupError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(202, _fresh(new))


@router.post("/{artifact_id}/edit", response={201: ArtifactOut}, summary="Save a hand edit as a new version")
def edit(request, artifact_id: int, payload: EditIn):
    artifact = get_artifact_for_user(request, artifact_id)
    try:
        new = pipeline.edit(artifact, request.user, payload.content)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(201, new)
