"""JSON API under /api/notes/: capture notes from a bookmarklet or browser extension.

``POST /api/notes/`` reads the request body itself instead of letting ninja parse it:
Django refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) when ``request.body`` is
touched, and a captured page section may be 10 MB. The app's own cap is ``NOTES_API_MAX_BODY``.
"""

import json
from datetime import datetime

from django.conf import settings
from django.db.models.functions import Length
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.security import django_auth
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from accounts.auth import ApiTokenAuth
from accounts.models import SCOPE_CAPTURE

from .models import Note

router = Router(tags=["notes"])

DEFAULT_MAX_BODY = 12 * 1024 * 1024  # a 10 MB page section plus the rest of the JSON


def max_body() -> int:
    return int(getattr(settings, "NOTES_API_MAX_BODY", DEFAULT_MAX_BODY))


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page_url: str = Field("", max_length=2000)
    page_title: str = Field("", max_length=500)
    page_metadata: dict = Field(default_factory=dict)
    page_section_html: str = ""
    highlighted_text: str = ""
    body: str = ""

    @field_validator("page_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("page_metadata")
    @classmethod
    def _small_metadata(cls, value: dict) -> dict:
        if len(json.dumps(value)) > 100_000:
            raise ValueError("is too large (at most 100,000 characters of JSON)")
        return value


class NoteOut(Schema):
    id: int
    page_url: str
    site: str
    page_title: str
    page_metadata: dict
    highlighted_text: str
    body: str
    page_section_chars: int
    url: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_page_section_chars(obj):
        annotated = getattr(obj, "section_chars", None)
        if annotated is not None:
            return annotated
        return len(obj.page_section_html) if "page_section_html" not in obj.get_deferred_fields() else 0

    @staticmethod
    def resolve_url(obj):
        return obj.get_absolute_url()


class NoteDetailOut(NoteOut):
    page_section_html: str


def _read_json(request) -> dict:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = max_body()
    if length > limit:
        raise HttpError(413, f"The request is {length:,} bytes; notes accept at most {limit:,}.")
    # request.read() streams past DATA_UPLOAD_MAX_MEMORY_SIZE, which guards request.body only.
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise HttpError(413, f"The request is over {limit:,} bytes; notes accept at most {limit:,}.")
    try:
        data = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, f"The body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HttpError(400, "The body must be a JSON object.")
    return data


@router.post(
    "/", response={201: NoteOut}, summary="Create a note (capture popup, extension; Bearer token or session)",
    # A capture-only token may call this and nothing else (accounts.models SCOPES).
    auth=[ApiTokenAuth(scope=SCOPE_CAPTURE), django_auth],
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": NoteIn.model_json_schema()}}}},
)
def create_note(request, response: HttpResponse):
    _allow_cross_origin(response)
    try:
        data = NoteIn.model_validate(_read_json(request))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:10])
        raise HttpError(422, problems) from None
    if not data.body.strip() and not data.highlighted_text.strip():
        raise HttpError(422, "Send a note body or the highlighted text.")
    note = Note.objects.create(owner=request.user, **data.model_dump())
    return Status(201, note)


def _allow_cross_origin(response: HttpResponse) -> None:
    # The bookmarklet posts from the page being read (another origin) with a Bearer token and
    # no cookies, so any origin may call; session-cookie calls still need CSRF (config.api).
    response["Access-Control-Allow-Origin"] = "*"
    response["Vary"] = "Origin"


@router.api_operation(["OPTIONS"], "/", auth=None, include_in_schema=False)
def create_note_preflight(request):
    response = HttpResponse(status=204)
    _allow_cross_origin(response)
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response["Access-Control-Max-Age"] = "600"
    return response


@router.get("/", response=list[NoteOut], summary="Your notes, newest first (search with q)")
def list_notes(request, q: str = "", limit: int = 50, offset: int = 0):
    qs = Note.objects.for_user(request.user).search(q).defer("page_section_html").annotate(
        section_chars=Length("page_section_html")
    )
    limit = max(1, min(limit, 200))
    return list(qs[max(offset, 0) : max(offset, 0) + limit])


@router.get("/{note_id}", response=NoteDetailOut)
def get_note(request, note_id: int):
    return get_object_or_404(Note.objects.for_user(request.user), pk=note_id)
