"""Generating artifacts from notes: preview, create, run, resume after a paste, edit, regenerate.

No HTTP and no Celery here (see ``tasks``). Each artifact stores its exact request when it
is created; running it again (a retry, or the resume after a pasted answer) sends the same
bytes, so llm's cache and the manual provider's stored answers line up.
"""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from llm.errors import LLMConfigurationError, LLMError, LLMInvalidOutputError, LLMTruncatedError, ManualAnswerPending
from llm.models import LLMModel, LLMProvider, LLMQuery
from llm.records import cost_for, max_cost_for
from llm.providers import Usage, get_provider, resolve_model
from llm.calls import collect, complete
from llm.calls.collect import BatchPending
from llm.calls.live import LLMStreamCancelled

from . import conf
from . import live as live_generation
from .context import BuiltPrompt, build_prompt
from .crypto import KeyDecryptionError
from .models import ArtifactImage, ArtifactType, BatchRun, GenerationMode, NoteArtifact, OtherArtifactRequest, UserApiKey
from .schemas import SCHEMAS, validate_structured

logger = logging.getLogger(__name__)

MANUAL_PROVIDER = "manual"
# Output budget per type (tokens), capped by the model's own output limit.
OUTPUT_TOKENS = {
    ArtifactType.FLASHCARDS: 3000,
    ArtifactType.QUIZ: 3000,
    ArtifactType.CODE_EXAMPLE: 2000,
    ArtifactType.IMAGE: 400,
}
DEFAULT_OUTPUT_TOKENS = 1500
# What a typical answer uses, for the "expected" estimate next to the worst case.
TYPICAL_OUTPUT_SHARE = Decimal("0.5")
STALE_RUNNING_AFTER = timedelta(minutes=15)  # longer than the task's 660 s hard time limit
_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


class GenerationSetupError(Exception):
    """The request cannot be run as asked (no key for that provider, unknown provider…)."""


@dataclass
class Target:
    provider: LLMProvider
    model: LLMModel
    user_key: UserApiKey | None = None

    def problem(self) -> str:
        if self.user_key is not None:
            return "" if self.provider.enabled else f"Provider {self.provider.name} is disabled."
        return self.provider.configuration_problem()


def resolve_target(user, mode: str, provider: str = "", model: str = "") -> Target:
    """Which provider and model a generation mode means for this user."""
    try:
        if mode == GenerationMode.COPY_PASTE:
            row = get_provider(MANUAL_PROVIDER)
            return Target(row, resolve_model(row, "manual"))
        if mode == GenerationMode.USER_KEY:
            if not provider:
                keys = list(UserApiKey.objects.for_user(user).order_by("provider")[:2])
                if len(keys) != 1:
                    raise GenerationSetupError(
                        "Choose the provider of your key." if keys else
                        "You have no API key saved: add one on the API keys page, or choose another mode."
                    )
                provider = keys[0].provider
            key = UserApiKey.objects.for_user(user).filter(provider=provider).first()
            if key is None:
                raise GenerationSetupError(f"You have no {provider} API key saved: add it on the API keys page.")
            row = get_provider(provider)
            if row.kind == LLMProvider.Kind.MANUAL:
                raise GenerationSetupError("The copy/paste provider takes no key; choose the copy/paste mode.")
            return Target(row, resolve_model(row, model or None, user=user), key)
        if mode == GenerationMode.BROWSER:
            from llm.providers import browser

            row = browser.provider()
            return Target(row, browser.model(row))
        if mode != GenerationMode.APP_KEY:
            raise GenerationSetupError(f"Unknown generation mode {mode!r}.")
        row = get_provider(conf.default_provider())
        return Target(row, resolve_model(row, conf.default_model() if row.name == conf.default_provider() else None))
    except LLMConfigurationError as exc:
        raise GenerationSetupError(str(exc)) from None


def output_budget(artifact_type: str, model: LLMModel) -> int:
    wanted = OUTPUT_TOKENS.get(artifact_type, DEFAULT_OUTPUT_TOKENS)
    return min(wanted, model.max_output_tokens) if model.max_output_tokens else wanted


def prompt_for(note, artifact_type: str, description: str, target: Target, regeneration: int = 0) -> BuiltPrompt:
    return build_prompt(
        note, artifact_type, description, context_window=target.model.context_window,
        max_output_tokens=output_budget(artifact_type, target.model), regeneration=regeneration,
    )


def estimate(target: Target, built: BuiltPrompt, max_output: int) -> dict:
    """Expected and worst-case cost in USD (None when the model's price is unknown)."""
    if target.provider.kind == LLMProvider.Kind.MANUAL:
        return {"estimated_cost_usd": Decimal("0"), "max_cost_usd": Decimal("0"), "price_known": True}
    typical = int(max_output * TYPICAL_OUTPUT_SHARE)
    expected = cost_for(target.model, Usage(input_tokens=built.input_tokens, output_tokens=typical))
    worst = max_cost_for(target.model, built.input_tokens, max_output)
    return {"estimated_cost_usd": expected, "max_cost_usd": worst, "price_known": worst is not None}


def image_estimate(mode: str) -> dict:
    """Which image model would draw the picture, and its price per image (None = unknown)."""
    from llm.calls import image_cost, resolve_image_model

    if mode == GenerationMode.USER_KEY:
        return {"image_model": "", "image_cost_usd": None,
                "image_note": "No picture with your own key yet: you get the image prompt only."}
    try:
        provider, model = resolve_image_model(conf.image_provider(), conf.image_model() or None)
    except LLMError as exc:
        return {"image_model": "", "image_cost_usd": None, "image_note": f"No picture will be made: {exc}"}
    return {"image_model": f"{provider.name}/{model.name}", "image_cost_usd": image_cost(model, conf.image_size(), "", None),
            "image_note": ""}


def check_request(artifact_type: str, description: str) -> None:
    if artifact_type not in ArtifactType.values:
        raise GenerationSetupError(f"Unknown artifact type {artifact_type!r}.")
    if artifact_type == ArtifactType.OTHER and not (description or "").strip():
        raise GenerationSetupError("Describe what you want when you choose “something else”.")


def preview(note, user, artifact_type: str, description: str = "", mode: str = GenerationMode.APP_KEY,
            provider: str = "", model: str = "") -> dict:
    """The prompt, its size and cost estimate, and what was cut. Nothing is sent to a model."""
    check_request(artifact_type, description)
    target = resolve_target(user, mode, provider, model)
    built = prompt_for(note, artifact_type, description, target)
    max_output = output_budget(artifact_type, target.model)
    costs = estimate(target, built, max_output)
    picture = {"image_model": "", "image_cost_usd": None, "image_note": ""}
    if artifact_type == ArtifactType.IMAGE:
        picture = image_estimate(mode)
        for key in ("estimated_cost_usd", "max_cost_usd"):
            if costs[key] is not None and picture["image_cost_usd"] is not None:
                costs[key] += picture["image_cost_usd"]
    return {
        "artifact_type": artifact_type,
        "generation_mode": mode,
        "provider": target.provider.name,
        "model": target.model.name,
        "system": built.system,
        "prompt": built.prompt,
        "input_tokens": built.input_tokens,
        "max_output_tokens": max_output,
        **costs,
        **picture,
        "truncation": built.report(),
        "problem": target.problem(),
    }


def create_artifact(note, user, artifact_type: str, description: str = "", mode: str = GenerationMode.APP_KEY,
                    provider: str = "", model: str = "", parent: NoteArtifact | None = None, batch=None) -> NoteArtifact:
    """Store a queued artifact with its exact prompt. The caller enqueues the run after commit."""
    check_request(artifact_type, description)
    target = resolve_target(user, mode, provider, model)
    problem = target.problem()
    if problem:
        raise GenerationSetupError(problem)
    version = 1
    regeneration = 0
    if parent is not None:
        version = next_version(parent)
        regeneration = version - 1
    built = prompt_for(note, artifact_type, description, target, regeneration=regeneration)
    with transaction.atomic():
        artifact = NoteArtifact.objects.create(
            note=note, owner=user, artifact_type=artifact_type, user_description=(description or "").strip(),
            generation_mode=mode, provider=target.provider.name, model=target.model.name, system_prompt=built.system,
            prompt=built.prompt, prompt_template=built.template, context_report=built.report(),
            max_output_tokens=output_budget(artifact_type, target.model), input_tokens=built.input_tokens,
            user_key=target.user_key, batch=batch, version=version, parent=parent,
        )
        if artifact_type == ArtifactType.OTHER and parent is None:
            OtherArtifactRequest.objects.create(user=user, note=note, artifact=artifact, description=artifact.user_description)
    return artifact


def next_version(artifact: NoteArtifact) -> int:
    return max(a.version for a in artifact.history()) + 1


def regenerate(artifact: NoteArtifact, user, mode: str | None = None, description: str | None = None,
               provider: str = "", model: str = "") -> NoteArtifact:
    latest = artifact.history()[-1]
    return create_artifact(
        artifact.note, user, artifact.artifact_type,
        artifact.user_description if description is None else description,
        mode or artifact.generation_mode,
        provider or (artifact.provider if (mode or artifact.generation_mode) == GenerationMode.USER_KEY else ""),
        model, parent=latest,
    )


def parse_edited_content(artifact_type: str, text: str) -> tuple[str, dict | None]:
    """Content and structured content for a hand edit; raises ValueError saying what is wrong."""
    text = (text or "").strip()
    if not text:
        raise ValueError("The content is empty.")
    schema = SCHEMAS.get(artifact_type)
    if schema is None:
        if artifact_type == ArtifactType.DIAGRAM:
            text = _strip_fence(text)
        return text, None
    from llm.calls.structured import parse

    result = parse(text, schema)
    if not result.ok:
        raise ValueError(result.error)
    value = validate_structured(artifact_type, result.value.model_dump())
    return _structured_text(value), value


def text_too_long(text: str) -> str:
    """Why ``text`` is refused as a paste or an edit ("" when its size is fine)."""
    limit = conf.max_text_chars()
    if len(text or "") <= limit:
        return ""
    return (f"The text is {len(text):,} characters long; an artifact takes at most {limit:,}. "
            "Shorten it (or split it across notes) and submit again.")


def edit(artifact: NoteArtifact, user, text: str) -> NoteArtifact:
    """A hand edit is a new completed version; the edited one is kept in the history."""
    problem = text_too_long(text)
    if problem:
        raise ValueError(problem)
    content, structured = parse_edited_content(artifact.artifact_type, text)
    latest = artifact.history()[-1]
    return NoteArtifact.objects.create(
        note=artifact.note, owner=user, artifact_type=artifact.artifact_type, user_description=artifact.user_description,
        generation_mode=artifact.generation_mode, origin=NoteArtifact.Origin.EDITED, provider=artifact.provider,
        model=artifact.model, prompt_template=artifact.prompt_template, content=content, structured_content=structured,
        status=NoteArtifact.Status.COMPLETED, version=next_version(latest), parent=latest, finished_at=timezone.now(),
        cost_usd=Decimal("0"),
    )


def _strip_fence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text.strip()


def _structured_text(value: dict) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False)


def claim(artifact_id: int) -> bool:
    """Queued → running, by exactly one worker. A run left "running" past the task's hard time
    limit belonged to a worker that died; the redelivered task may take it over."""
    now = timezone.now()
    stale = Q(status=NoteArtifact.Status.RUNNING, updated_at__lt=now - STALE_RUNNING_AFTER)
    return bool(
        NoteArtifact.objects.filter(Q(status=NoteArtifact.Status.QUEUED) | stale, pk=artifact_id).update(
            status=NoteArtifact.Status.RUNNING, updated_at=now
        )
    )


def _fail(artifact: NoteArtifact, message: str, query_id: int | None = None) -> NoteArtifact:
    artifact.status = NoteArtifact.Status.FAILED
    artifact.error = message[:5000]
    artifact.finished_at = timezone.now()
    if query_id and LLMQuery.objects.filter(pk=query_id).exists():
        artifact.query_id = query_id
    artifact.save(update_fields=["status", "error", "finished_at", "query", "updated_at"])
    return artifact


def run(artifact_id: int) -> NoteArtifact | None:
    """Run one queued artifact once; None when another worker has it or it is not queued."""
    if not claim(artifact_id):
        return None
    artifact = NoteArtifact.objects.select_related("owner", "user_key").get(pk=artifact_id)
    api_key = None
    if artifact.generation_mode == GenerationMode.USER_KEY:
        if artifact.user_key is None:
            return _fail(artifact, "The API key this artifact was to use has been deleted: add it again and regenerate.")
        try:
            api_key = artifact.user_key.reveal()
        except KeyDecryptionError as exc:
            return _fail(artifact, str(exc))
    schema = SCHEMAS.get(artifact.artifact_type)
    arguments = dict(
        purpose=f"artifacts.{artifact.artifact_type}", system=artifact.system_prompt, prompt=artifact.prompt,
        provider=artifact.provider, model=artifact.model,
        schema=schema, max_tokens=artifact.max_output_tokens, user=artifact.owner,
        interaction_type=f"artifact_{artifact.artifact_type}", template_version=artifact.prompt_template,
        context={"note_id": artifact.note_id, "artifact_type": artifact.artifact_type},
        api_key=api_key,
    )
    try:
        if streams_live(artifact):
            result = live_generation.relay_artifact(artifact, arguments)
        else:
            result = complete(**arguments)
        if live_generation.stop_was_requested(artifact):  # Stop pressed while a plain call ran: drop its answer
            raise LLMStreamCancelled(query_id=result.query_id)
    except BatchPending:  # delivery=batch: the call went into a provider batch; the next pass continues
        NoteArtifact.objects.filter(pk=artifact.pk).update(status=NoteArtifact.Status.QUEUED)
        raise
    except LLMStreamCancelled as exc:
        return live_generation.cancelled(artifact, exc.query_id)
    except ManualAnswerPending as pending:
        artifact.status = NoteArtifact.Status.WAITING_MANUAL
        artifact.pending_query_id = pending.query_id
        artifact.error = ""
        artifact.save(update_fields=["status", "pending_query", "error", "updated_at"])
        return artifact
    except LLMTruncatedError as exc:
        return _fail(artifact, f"The answer was cut off at the output limit; try a narrower description. ({exc})", exc.query_id)
    except LLMInvalidOutputError as exc:
        return _fail(artifact, f"The model's answer did not fit the {artifact.get_artifact_type_display()} format. ({exc})", exc.query_id)
    except LLMError as exc:
        return _fail(artifact, str(exc), exc.query_id)
    except Exception as exc:  # record why on the row, then let the task machinery see it
        _fail(artifact, f"{type(exc).__name__}: {exc}")
        raise

    structured = None
    content = result.text.strip()
    if schema is not None:
        try:
            structured = validate_structured(artifact.artifact_type, result.parsed.model_dump())
        except ValueError as exc:
            return _fail(artifact, f"The model's answer is not a usable {artifact.get_artifact_type_display()}: {exc}", result.query_id)
        content = _structured_text(structured)
    elif artifact.artifact_type == ArtifactType.DIAGRAM:
        content = _strip_fence(content)
    elif artifact.artifact_type == ArtifactType.IMAGE:
        content = _strip_fence(content)

    artifact.status = NoteArtifact.Status.COMPLETED
    artifact.content = content
    artifact.structured_content = structured
    artifact.error = ""
    artifact.query_id = result.query_id
    artifact.model = result.model
    artifact.input_tokens = result.usage.input_tokens
    artifact.output_tokens = result.usage.output_tokens
    artifact.cost_usd = result.cost_usd
    artifact.finished_at = timezone.now()
    artifact.save()
    if artifact.user_key_id and artifact.generation_mode == GenerationMode.USER_KEY:
        artifact.user_key.record_usage(result.usage.input_tokens, result.usage.output_tokens, result.cost_usd)
    live_generation.finished(artifact)
    return artifact


def streams_live(artifact: NoteArtifact) -> bool:
    """Text kinds stream to the page when live streaming is on and the provider streams."""
    from llm.calls.streaming import STREAMING_KINDS

    if artifact.artifact_type in SCHEMAS or not live_generation.enabled():
        return False
    if collect.active() is not None:  # a delivery=batch pass: the call is gathered for a provider batch
        return False
    row = LLMProvider.objects.filter(name=artifact.provider).only("kind").first()
    return row is not None and row.kind in STREAMING_KINDS


def artifacts_waiting_on(query: LLMQuery) -> list[int]:
    """Put the artifacts waiting for this pasted answer back in the queue; return their ids."""
    ids = []
    for artifact_id in NoteArtifact.objects.filter(
        pending_query=query, status=NoteArtifact.Status.WAITING_MANUAL
    ).values_list("pk", flat=True):
        if NoteArtifact.objects.filter(pk=artifact_id, status=NoteArtifact.Status.WAITING_MANUAL).update(
            status=NoteArtifact.Status.QUEUED
        ):
            ids.append(artifact_id)
    return ids


def submit_paste(artifact: NoteArtifact, answer: str, model_name: str, user):
    """Hand a pasted answer to llm; on success the signal resumes the artifact."""
    from llm.calls import PasteResult, submit_answer

    if artifact.status != NoteArtifact.Status.WAITING_MANUAL or not artifact.pending_query_id:
        return PasteResult(False, "This artifact is not waiting for a pasted answer.")
    problem = text_too_long(answer)
    if problem:
        return PasteResult(False, problem)
    result = submit_answer(artifact.pending_query_id, answer, model_name, user)
    return result


def pending_prompt(artifact: NoteArtifact) -> str:
    """The text to copy into a chat LLM (with the JSON schema for structured types)."""
    from llm.models import ManualInteraction

    mi = ManualInteraction.objects.filter(query_id=artifact.pending_query_id).first()
    return mi.prompt_text if mi else ""


def paste_draft(artifact: NoteArtifact) -> tuple[str, str]:
    """The last rejected paste and why, so the person can fix it instead of pasting again."""
    from llm.models import ManualInteraction

    mi = ManualInteraction.objects.filter(query_id=artifact.pending_query_id).first()
    return (mi.draft_answer, mi.last_error) if mi else ("", "")


def create_batch(user, notes, artifact_type: str, mode: str, description: str = "",
                 delivery: str = "interactive") -> tuple[BatchRun, list[int]]:
    """A batch and one queued artifact per note; the caller enqueues the ids as one group
    (``enqueue_batch``; with delivery=batch one provider batch for all of them)."""
    from llm import batch as llm_batch

    check_request(artifact_type, description)
    if mode == GenerationMode.BROWSER:
        raise GenerationSetupError("The in-browser mode runs one artifact at a time, on its note's page; "
                                   "choose another mode for a batch.")
    target = resolve_target(user, mode)
    problem = target.problem()
    if problem:
        raise GenerationSetupError(problem)
    try:
        delivery = llm_batch.effective_delivery(delivery, target.provider, target.model)
    except ValueError as exc:
        raise GenerationSetupError(str(exc)) from None
    if mode == GenerationMode.USER_KEY:
        delivery = "interactive"  # a user's own key is used call by call, never kept for a batch's polls
    with transaction.atomic():
        batch = BatchRun.objects.create(user=user, artifact_type=artifact_type, generation_mode=mode,
                                        user_description=description, delivery=delivery)
        ids = [create_artifact(note, user, artifact_type, description, mode, batch=batch).pk
               for note in sorted(notes, key=lambda n: n.pk)]
    return batch, ids


def make_image(artifact_id: int) -> ArtifactImage | None:
    """The picture for a completed image artifact, from its prompt, through llm's image service.

    Safe to run twice: an artifact that already has an image is left alone. A failure is kept
    on the ArtifactImage row (the prompt stays usable) rather than failing the artifact.
    """
    from llm.calls import generate_image

    artifact = NoteArtifact.objects.select_related("owner").get(pk=artifact_id)
    if artifact.artifact_type != ArtifactType.IMAGE or artifact.status != NoteArtifact.Status.COMPLETED:
        return None
    existing = artifact.images.filter(generated__isnull=False).exclude(image="").first()
    if existing is not None:
        return existing
    prompt = artifact.content.strip()
    row = ArtifactImage.objects.create(artifact=artifact, prompt=prompt)
    provider, model, api_key = conf.image_provider(), conf.image_model() or None, None
    if artifact.generation_mode == GenerationMode.USER_KEY:
        key = artifact.user_key
        if key is None or key.provider not in ("openai", "gemini"):
            row.error = ("Your saved key is not for a provider that draws pictures (OpenAI or Gemini); "
                         "copy the prompt into an image tool, or regenerate with the app's model.")
            row.save(update_fields=["error"])
            return row
        # The picture is drawn with the user's own key, at their provider's default image model.
        provider, model, api_key = key.provider, None, key.reveal()
    try:
        generated = generate_image(
            purpose="artifacts.image", prompt=prompt, provider=provider, model=model,
            size=conf.image_size(), user=artifact.owner, api_key=api_key,
        )
    except (LLMError, ValueError) as exc:
        row.error = str(exc)[:5000]
        row.save(update_fields=["error"])
        return row
    row.generated = generated
    row.image.name = generated.image_path
    row.thumbnail.name = generated.thumbnail_path
    row.cost_usd = generated.cost_usd
    row.save()
    if generated.cost_usd is not None and artifact.cost_usd is not None:
        NoteArtifact.objects.filter(pk=artifact.pk).update(cost_usd=artifact.cost_usd + generated.cost_usd)
    elif generated.cost_usd is None:
        NoteArtifact.objects.filter(pk=artifact.pk).update(cost_usd=None)  # part of the cost is unknown
    return row
