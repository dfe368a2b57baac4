"""Image generation: one prompt in, a verified image and its thumbnail in storage, every attempt logged.

``generate_image()`` runs synchronously; ``create_image_job()`` queues a ``GeneratedImage`` row
that ``llm.tasks.run_image_job`` claims and fills. Like ``complete()``, each attempt is an
``LLMQuery`` row written before the call and finished after it, with an interaction file
(prompt, parameters, the stored image's path and sha256 — never the image bytes themselves).
"""

import hashlib
import io
import logging
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import OperationalError
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from . import budgets, concurrency, ratelimit
from ..records import interactions, rollups
from ..records import log_write
from ..errors import (
    LLMBudgetExceeded,
    LLMConfigurationError,
    LLMError,
    LLMInvalidOutputError,
    ProviderCallError,
    RateLimitTimeout,
)
from ..models import GeneratedImage, LLMModel, LLMProvider, LLMQuery
from .enqueue import enqueue_after_commit
from .retry import ms_since, run_id_of, with_retries
from ..records import QUANTUM, cost_for
from ..providers import Usage, client_for, get_provider, resolve_model
from ..providers.base import BilledCallError

logger = logging.getLogger(__name__)

# Provider kinds that can make images, with the model used when none is named.
DEFAULT_IMAGE_MODELS = {"openai": "gpt-image-1", "gemini": "gemini-2.5-flash-image"}
# What each known model accepts; a model not listed here may take any WxH and quality.
MODEL_SIZES = {
    "dall-e-3": {"1024x1024", "1792x1024", "1024x1792"},
    "gpt-image-1": {"1024x1024", "1536x1024", "1024x1536", "auto"},
}
MODEL_QUALITIES = {
    "dall-e-3": {"standard", "hd"},
    "gpt-image-1": {"low", "medium", "high", "auto"},
}
# The quality the API uses when none is sent, for the per-image price lookup.
DEFAULT_QUALITY = {"dall-e-3": "standard"}
SIZE_RE = re.compile(r"^(auto|\d{2,5}x\d{2,5})$")
QUALITY_RE = re.compile(r"^[a-z]{0,20}$")
THUMB_MAX = 256
MAX_IMAGE_BYTES = 50 * 1024 * 1024
ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
INTERACTION_TYPE = "images"
# The Celery task that makes a queued image (llm/tasks.py), queued by name: see enqueue.py.
RUN_TASK = "llm.tasks.run_image_job"


# --------------------------------------------------------------------------- #
# Choosing provider and model
# --------------------------------------------------------------------------- #
def default_image_provider() -> LLMProvider:
    if settings.LLM_DEFAULT_PROVIDER:
        configured = get_provider(settings.LLM_DEFAULT_PROVIDER)
        if configured.kind in DEFAULT_IMAGE_MODELS:
            return configured
    for kind in DEFAULT_IMAGE_MODELS:
        for candidate in LLMProvider.objects.filter(enabled=True, kind=kind):
            if candidate.is_configured:
                return candidate
    raise LLMConfigurationError(
        "No provider can generate images: configure OpenAI (OPENAI_API_KEY) or Gemini (GEMINI_API_KEY)."
    )


def resolve_image_model(provider: "LLMProvider | str | None", model: "LLMModel | str | None",
                        api_key: str | None = None, user=None) -> tuple[LLMProvider, LLMModel]:
    """The provider and model rows for an image request; configuration problems raise before anything is sent."""
    provider_row = get_provider(provider) if provider else default_image_provider()
    if provider_row.kind not in DEFAULT_IMAGE_MODELS:
        raise LLMConfigurationError(
            f"Provider {provider_row.name} ({provider_row.get_kind_display()}) cannot generate images; "
            "use an OpenAI or Gemini provider."
        )
    problem = provider_row.configuration_problem()
    if problem and not (api_key and provider_row.enabled):  # the caller's own key stands in for ours
        raise LLMConfigurationError(problem)
    if not model:
        name = DEFAULT_IMAGE_MODELS[provider_row.kind]
        model_row = (
            provider_row.models.filter(name=name).first()
            or provider_row.models.filter(enabled=True, supports_image_generation=True).order_by("name").first()
            or resolve_model(provider_row, name)
        )
    else:
        model_row = resolve_model(provider_row, model, user=user)
    if provider_row.kind == LLMProvider.Kind.GEMINI and model_row.name.startswith("imagen"):
        raise LLMConfigurationError(
            f"{model_row.name} needs a Vertex AI client; with a Gemini API key use gemini-2.5-flash-image."
        )
    if model_row.price_source != LLMModel.PriceSource.UNKNOWN and not model_row.supports_image_generation:
        raise LLMConfigurationError(
            f"{provider_row.name}/{model_row.name} does not generate images; choose "
            f"{DEFAULT_IMAGE_MODELS[provider_row.kind]}" + (" or dall-e-3." if provider_row.kind == "openai" else ".")
        )
    return provider_row, model_row


def check_options(model_name: str, size: str, quality: str) -> None:
    """Raise ValueError (with what is allowed) for a size or quality the model does not take."""
    if not SIZE_RE.match(size or ""):
        raise ValueError(f"Size must look like 1024x1024 (or auto), not {size!r}.")
    if not QUALITY_RE.match(quality or ""):
        raise ValueError(f"Quality must be a word such as standard, hd, low, medium or high, not {quality!r}.")
    sizes, qualities = MODEL_SIZES.get(model_name), MODEL_QUALITIES.get(model_name)
    if sizes and size not in sizes:
        raise ValueError(f"{model_name} makes images of {', '.join(sorted(sizes))}, not {size}.")
    if qualities and quality and quality not in qualities:
        raise ValueError(f"{model_name} takes quality {', '.join(sorted(qualities))}, not {quality!r}.")


# --------------------------------------------------------------------------- #
# Cost, verification, storage
# --------------------------------------------------------------------------- #
def image_cost(model: LLMModel, size: str, quality: str, usage: Usage | None) -> Decimal | None:
    """Tokens when the API reports them and the model has token prices, else the per-image price, else None."""
    if usage is not None and (usage.input_tokens or usage.output_tokens):
        by_tokens = cost_for(model, usage)
        if by_tokens is not None:
            return by_tokens
    prices = model.image_prices or {}
    quality = quality or DEFAULT_QUALITY.get(model.name, "")
    for key in (f"{size}/{quality}", size, "default"):
        if key in prices and prices[key] not in (None, ""):
            return Decimal(str(prices[key])).quantize(QUANTUM)
    return None


@dataclass
class StoredImage:
    path: str
    thumbnail_path: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    source_format: str


def verify_image(data: bytes) -> Image.Image:
    """The decoded image, or LLMInvalidOutputError-worthy ValueError: model output is untrusted."""
    if not data:
        raise ValueError("the provider returned an empty image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"the image is {len(data)} bytes, more than the {MAX_IMAGE_BYTES} allowed")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()  # checks the structure; the image cannot be used afterwards
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"the returned bytes are not a readable image ({type(exc).__name__}: {exc})") from None
    if image.format not in ACCEPTED_FORMATS:
        raise ValueError(f"the returned image is {image.format}, not one of {', '.join(sorted(ACCEPTED_FORMATS))}")
    return image


def store_image(data: bytes, image: Image.Image) -> StoredImage:
    """Save the image as PNG (re-encoded unless it already is one) and a thumbnail of at most 256 px."""
    now = timezone.now()
    base = f"images/{now:%Y}/{now:%m}/{uuid.uuid4().hex}"
    if image.format == "PNG":
        png = data
    else:
        buf = io.BytesIO()
        _png_ready(image).save(buf, "PNG")
        png = buf.getvalue()
    thumb = _png_ready(image).copy()
    thumb.thumbnail((THUMB_MAX, THUMB_MAX))
    buf = io.BytesIO()
    thumb.save(buf, "PNG")
    path = default_storage.save(f"{base}.png", ContentFile(png))
    thumb_path = default_storage.save(f"{base}_thumb.png", ContentFile(buf.getvalue()))
    return StoredImage(
        path=path, thumbnail_path=thumb_path, width=image.width, height=image.height, size_bytes=len(png),
        sha256=hashlib.sha256(png).hexdigest(), source_format=image.format or "",
    )


def _png_ready(image: Image.Image) -> Image.Image:
    return image if image.mode in ("RGB", "RGBA", "L", "LA", "P", "1") else image.convert("RGBA")


# --------------------------------------------------------------------------- #
# One call across its attempts (mirrors llm.calls.service._Call, kept to what images need)
# --------------------------------------------------------------------------- #


@dataclass
class _Answer:
    data: bytes
    usage: Usage
    revised_prompt: str
    raw: dict
    row: LLMQuery
    latency_ms: int


class _ImageCall:
    def __init__(self, *, purpose: str, provider: LLMProvider, model: LLMModel, prompt: str, size: str, quality: str,
                 user, run_id: str, image: GeneratedImage):
        self.purpose, self.provider, self.model, self.prompt = purpose, provider, model, prompt
        self.size, self.quality, self.user, self.run_id, self.image = size, quality, user, run_id, image
        self.attempt = 0
        self.reservation = None
        self.api_key: str | None = None  # a user's own key; never stored or logged

    @property
    def params(self) -> dict:
        return {"size": self.size, "quality": self.quality, "kind": "image"}

    def new_row(self) -> LLMQuery:
        self.attempt += 1
        return LLMQuery.objects.create(
            user=self.user if getattr(self.user, "pk", None) else None, purpose=self.purpose, run_id=self.run_id,
            interaction_type=INTERACTION_TYPE, provider=self.provider, model=self.model,
            provider_name=self.provider.name, model_name=self.model.name, params=self.params,
            status=LLMQuery.Status.STARTED, attempt=self.attempt, key_source="user" if self.api_key else "app",
        )

    def finish_row(self, row: LLMQuery, *, status: str, latency_ms: int, error: str = "", http_status: int | None = None,
                   answer: "_Answer | None" = None, stored: StoredImage | None = None,
                   billed: Usage | None = None) -> None:
        """Interaction file first, then the row, as complete() does. ``billed``: the usage of a call
        the provider charged for although its answer was unusable (no ``answer``)."""
        row.status, row.error, row.latency_ms, row.http_status = status, error[:5000], latency_ms, http_status
        row.finished_at = timezone.now()
        if answer is not None:
            row.http_status = http_status or 200  # the SDK only returns on a 2xx answer
            row.input_tokens, row.output_tokens = answer.usage.input_tokens, answer.usage.output_tokens
            row.reasoning_tokens = answer.usage.reasoning_tokens
            row.cost_usd = image_cost(self.model, self.size, self.quality, answer.usage)
        elif billed is not None:
            row.input_tokens, row.output_tokens = billed.input_tokens, billed.output_tokens
            row.cost_usd = image_cost(self.model, self.size, self.quality, billed)
        if self.reservation is not None:
            self.reservation.settle(row.cost_usd if (answer is not None or billed is not None) else Decimal("0"))
            self.reservation = None
        path = interactions.file_name(
            run_id=self.run_id, interaction_type=INTERACTION_TYPE, batch=None, attempt=row.attempt, when=row.created_at,
            unique=f"image:{self.image.pk}:{row.pk}",
        )
        try:
            row.file_path, row.file_sha256 = interactions.write(path, self.document(row, answer, stored))
        except Exception:  # storage down: keep the row (with its tokens and cost) and say so
            logger.exception("Could not write the interaction file for query %s", row.pk)
            row.error = (row.error + "\n" if row.error else "") + "Interaction file could not be written."
        with log_write():
            row.save()
            rollups.record(row)

    def document(self, row: LLMQuery, answer: "_Answer | None", stored: StoredImage | None) -> dict:
        return {
            "metadata": {
                "query_id": row.pk, "image_id": self.image.pk, "run_id": self.run_id or None,
                "interaction_type": INTERACTION_TYPE, "purpose": self.purpose, "attempt": row.attempt,
                "provider": self.provider.name, "provider_kind": self.provider.kind, "model": row.model_name,
                "timestamp": timezone.now().isoformat(), "duration_ms": row.latency_ms, "status": row.status,
                "http_status": row.http_status, "user_id": row.user_id,
            },
            "prompt": self.prompt,
            "params": self.params,
            "response": {
                "revised_prompt": answer.revised_prompt if answer else None,
                "image_path": stored.path if stored else None,
                "image_sha256": stored.sha256 if stored else None,
                "thumbnail_path": stored.thumbnail_path if stored else None,
                "width": stored.width if stored else None,
                "height": stored.height if stored else None,
                "bytes": stored.size_bytes if stored else None,
                "source_format": stored.source_format if stored else None,
            },
            "raw_response": answer.raw if answer else None,
            "usage": vars(answer.usage) if answer else None,
            "cost_usd": row.cost_usd,
            "error": row.error or None,
        }

    def _admit(self, row: LLMQuery) -> concurrency.Lease:
        """The same gates as text calls: budget reserved first, then a place among the model's requests
        in flight (returned: release it once the provider answered), then rate-limit capacity."""
        try:
            if budgets.applicable(self.user):
                self.reservation = budgets.reserve(
                    self.user, image_cost(self.model, self.size, self.quality, None),
                    what=f"this image from {self.provider.name}/{self.model.name}",
                )
            lease = concurrency.acquire(self.model)
            try:
                if self.model.rpm_limit or self.model.tpm_limit:
                    ratelimit.acquire(self.model, 0)
            except BaseException:
                lease.release()
                raise
            return lease
        except (LLMBudgetExceeded, RateLimitTimeout) as exc:
            status = LLMQuery.Status.BUDGET_EXCEEDED if isinstance(exc, LLMBudgetExceeded) else LLMQuery.Status.RATE_LIMITED
            self.finish_row(row, status=status, error=str(exc), latency_ms=0)
            exc.query_id = row.pk
            raise

    def attempt_once(self) -> _Answer:
        row = self.new_row()
        client = client_for(self.provider, api_key=self.api_key)
        lease = self._admit(row)
        started = time.monotonic()
        try:
            with lease:
                data, usage, revised, raw = client.generate_image(
                    model=self.model.name, prompt=self.prompt, size=self.size, quality=self.quality
                )
        except ProviderCallError as exc:
            self.finish_row(row, status=exc.status, error=str(exc), latency_ms=ms_since(started), http_status=exc.http_status,
                            billed=exc.usage if isinstance(exc, BilledCallError) else None)
            exc.query_id = row.pk
            raise
        except Exception as exc:  # an SDK surprise: log it as an error attempt, never lose the row
            self.finish_row(row, status=LLMQuery.Status.ERROR, error=f"{type(exc).__name__}: {exc}", latency_ms=ms_since(started))
            raise LLMError(f"{self.provider.name} image call failed unexpectedly: {type(exc).__name__}: {exc}",
                           query_id=row.pk) from exc
        return _Answer(data=data, usage=usage, revised_prompt=revised, raw=raw, row=row, latency_ms=ms_since(started))

    def transport(self) -> _Answer:
        return with_retries(lambda: self.attempt_once())


# --------------------------------------------------------------------------- #
# Public entry points
# --------------------------------------------------------------------------- #

def _fail(image: GeneratedImage, exc: BaseException) -> None:
    image.status = GeneratedImage.Status.FAILED
    image.error = (str(exc) if isinstance(exc, (LLMError, ValueError)) else f"{type(exc).__name__}: {exc}")[:5000]
    image.query_id = getattr(exc, "query_id", None) or image.query_id
    image.finished_at = timezone.now()
    image.save(update_fields=["status", "error", "query", "finished_at"])


def generate_image(*, purpose: str, prompt: str, provider: "LLMProvider | str | None" = None,
                   model: "LLMModel | str | None" = None, size: str = "1024x1024", quality: str = "", user=None,
                   run=None, image: GeneratedImage | None = None, api_key: str | None = None) -> GeneratedImage:
    """Generate one image now and return its completed ``GeneratedImage`` row.

    Raises ``LLMConfigurationError`` (nothing sent), ``LLMRequestRejected`` (400/401/403/404,
    content-policy refusals included), ``LLMUnavailableError`` (retries ran out) or
    ``LLMInvalidOutputError`` (the answer was not an image). The failure is recorded on the row.
    """
    if not purpose:
        raise ValueError("purpose is required, e.g. purpose='artifacts.portrait'.")
    prompt = (prompt or "").strip()
    try:
        if not prompt:
            raise ValueError("An image needs a prompt.")
        provider_row, model_row = resolve_image_model(provider, model, api_key, user=user)
        check_options(model_row.name, size, quality)
    except (LLMError, ValueError) as exc:
        if image is not None:
            _fail(image, exc)
        raise
    fields = {
        "user": user if getattr(user, "pk", None) else None, "purpose": purpose, "run_id": run_id_of(run),
        "provider": provider_row, "model_name": model_row.name, "prompt": prompt, "size": size, "quality": quality,
        "status": GeneratedImage.Status.RUNNING, "error": "",
    }
    if image is None:
        image = GeneratedImage.objects.create(**fields)
    else:
        for key, value in fields.items():
            setattr(image, key, value)
        image.save()
    try:
        return _generate(image, provider_row, model_row, api_key)
    except Exception as exc:
        _fail(image, exc)
        raise


def _generate(image: GeneratedImage, provider: LLMProvider, model: LLMModel, api_key: str | None = None) -> GeneratedImage:
    call = _ImageCall(
        purpose=image.purpose, provider=provider, model=model, prompt=image.prompt, size=image.size,
        quality=image.quality, user=image.user, run_id=image.run_id, image=image,
    )
    call.api_key = api_key
    answer = call.transport()
    row = answer.row
    try:
        decoded = verify_image(answer.data)
    except ValueError as exc:
        message = f"{provider.name}/{model.name} did not return a usable image: {exc}."
        call.finish_row(row, status=LLMQuery.Status.INVALID_OUTPUT, error=message, latency_ms=answer.latency_ms,
                        answer=answer)
        raise LLMInvalidOutputError(message, query_id=row.pk) from None
    try:
        stored = store_image(answer.data, decoded)
    except Exception as exc:  # the provider billed us: keep the cost on the row, then fail
        message = f"The image could not be stored: {type(exc).__name__}: {exc}"
        call.finish_row(row, status=LLMQuery.Status.ERROR, error=message, latency_ms=answer.latency_ms, answer=answer)
        raise LLMError(message, query_id=row.pk) from exc
    call.finish_row(row, status=LLMQuery.Status.OK, latency_ms=answer.latency_ms, answer=answer, stored=stored)
    image.status = GeneratedImage.Status.COMPLETED
    image.image_path, image.thumbnail_path = stored.path, stored.thumbnail_path
    image.width, image.height, image.bytes = stored.width, stored.height, stored.size_bytes
    image.revised_prompt = answer.revised_prompt
    image.cost_usd = row.cost_usd
    image.query = row
    image.error = ""
    image.finished_at = timezone.now()
    image.save()
    return image


def create_image_job(*, purpose: str, prompt: str, provider: "LLMProvider | str | None" = None,
                     model: "LLMModel | str | None" = None, size: str = "1024x1024", quality: str = "", user=None,
                     run=None) -> GeneratedImage:
    """Queue an image; ``llm.tasks.run_image_job`` makes it after the transaction commits."""
    if not purpose:
        raise ValueError("purpose is required, e.g. purpose='artifacts.portrait'.")
    prompt = (prompt or "").strip()
    if not prompt:
        raise ValueError("An image needs a prompt.")
    provider_row, model_row = resolve_image_model(provider, model, user=user)
    check_options(model_row.name, size, quality)
    image = GeneratedImage.objects.create(
        user=user if getattr(user, "pk", None) else None, purpose=purpose, run_id=run_id_of(run), provider=provider_row,
        model_name=model_row.name, prompt=prompt, size=size, quality=quality, status=GeneratedImage.Status.QUEUED,
    )
    enqueue_after_commit(RUN_TASK, image.pk)
    return image


def run_job(image_id: int) -> GeneratedImage | None:
    """Make a queued image once. Claimed with a conditional UPDATE, so a second run does nothing."""
    from .claims import claim

    if not claim(GeneratedImage, image_id):
        return None
    image = GeneratedImage.objects.select_related("provider", "user").get(pk=image_id)
    if image.provider_id is None:
        _fail(image, LLMConfigurationError("The provider of this image was deleted; queue it again with another one."))
        return image
    try:
        return generate_image(
            purpose=image.purpose, prompt=image.prompt, provider=image.provider, model=image.model_name or None,
            size=image.size, quality=image.quality, user=image.user, run=image.run_id, image=image,
        )
    except (LLMError, ValueError):
        image.refresh_from_db()  # generate_image recorded why
        return image
    except OperationalError:
        raise  # the task gives the job back and retries on its schedule
    except Exception as exc:  # record the reason on the row, then let the task machinery see it
        GeneratedImage.objects.filter(pk=image_id).update(
            status=GeneratedImage.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000], finished_at=timezone.now()
        )
        raise
