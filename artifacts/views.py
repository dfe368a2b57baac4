"""HTML pages and htmx partials. Thin: the pipeline does the work, ``get_artifact_for_user`` guards."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django.utils.translation import gettext

from notes.models import Note
from notes.views import get_note_for_user

from . import feedback, pipeline, webhooks
from config.csp import allow_diagram_styles
from .forms import ApiKeyForm, BatchForm, EditForm, GenerateForm, WebhookForm
from .models import BatchRun, NoteArtifact, UserApiKey, Webhook
from .tasks import enqueue_batch, enqueue_generation, enqueue_image, enqueue_webhooks


def get_artifact_for_user(request, pk: int) -> NoteArtifact:
    """The request user's artifact ``pk``; anyone else's is a 404, as if it did not exist."""
    return get_object_or_404(NoteArtifact.objects.for_user(request.user).select_related("note"), pk=pk)


def _card(request, artifact: NoteArtifact, **extra) -> HttpResponse:
    return render(request, "artifacts/_artifact_card.html", {"a": artifact, **extra})


@allow_diagram_styles
def index(request):
    notes = Note.objects.for_user(request.user).only("pk", "page_title", "body", "highlighted_text", "site", "updated_at")
    page = Paginator(notes, 50).get_page(request.GET.get("page"))
    recent = NoteArtifact.objects.for_user(request.user).select_related("note").only(
        "pk", "artifact_type", "status", "version", "created_at", "cost_usd", "note__id", "note__page_title", "note__site",
        "note__body", "note__highlighted_text",
    )[:20]
    return render(request, "artifacts/index.html", {
        "page": page, "notes": page.object_list, "recent": recent, "batch_form": BatchForm(user=request.user),
        "batches": BatchRun.objects.for_user(request.user)[:5],
    })


@require_POST
@allow_diagram_styles
def preview(request, note_id: int):
    note = get_note_for_user(request, note_id)
    form = GenerateForm(request.POST, user=request.user)
    context = {"note": note, "form": form}
    if form.is_valid():
        try:
            context["preview"] = pipeline.preview(note, request.user, **form.pipeline_args())
        except pipeline.GenerationSetupError as exc:
            context["error"] = str(exc)
    template = "artifacts/_preview.html" if request.htmx else "artifacts/preview_page.html"
    return render(request, template, context)


@require_POST
def generate(request, note_id: int):
    note = get_note_for_user(request, note_id)
    form = GenerateForm(request.POST, user=request.user)
    error = ""
    artifact = None
    if form.is_valid():
        try:
            with transaction.atomic():
                artifact = pipeline.create_artifact(note, request.user, **form.pipeline_args())
                enqueue_generation(artifact.pk)
        except pipeline.GenerationSetupError as exc:
            error = str(exc)
    else:
        error = " ".join(e for errors in form.errors.values() for e in errors)
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, gettext("Generation started."))
        return redirect(note)
    if error:
        return render(request, "artifacts/_preview.html", {"note": note, "form": form, "error": error}, status=200)
    artifact = NoteArtifact.objects.get(pk=artifact.pk)
    # The note's first artifact replaces the "nothing generated yet" line (an out-of-band delete
    # that would find no target later, which htmx reports as an error).
    first = not NoteArtifact.objects.filter(note=note).exclude(pk=artifact.pk).exists()
    return render(request, "artifacts/_generated.html", {"a": artifact, "first_on_note": first})


def status(request, pk: int):
    return _card(request, get_artifact_for_user(request, pk))


@allow_diagram_styles
def detail(request, pk: int):
    artifact = get_artifact_for_user(request, pk)
    return render(request, "artifacts/detail.html", {"a": artifact, "history": artifact.history()})


@require_POST
def promote(request, pk: int):
    """Make this artifact a case of the faithfulness suite (an edited version's text is the expected answer)."""
    import evals

    artifact = get_artifact_for_user(request, pk)
    try:
        case = feedback.promote(artifact, request.user)
    except evals.PromotionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, gettext("Added to %(dataset)s as case %(key)s.") % {"dataset": case.dataset, "key": case.key})
    return redirect(artifact)


@require_POST
def rate(request, pk: int):
    import evals

    artifact = get_artifact_for_user(request, pk)
    try:
        feedback.rate(artifact, request.user, request.POST.get("stars"))
    except evals.PromotionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, gettext("Thank you: your rating is kept with the call that wrote this."))
    return redirect(artifact)


@require_POST
def paste(request, pk: int):
    artifact = get_artifact_for_user(request, pk)
    answer = request.POST.get("answer", "")
    result = pipeline.submit_paste(artifact, answer, request.POST.get("model_name", ""), request.user)
    artifact = NoteArtifact.objects.get(pk=artifact.pk)
    if not result.ok:
        if request.htmx:
            return _card(request, artifact, paste_error=result.error, paste_text=answer)
        # Without htmx (or if the page was mid-update): the same page, the dialog open with the error and the text kept.
        return render(request, "artifacts/detail.html", {
            "a": artifact, "history": artifact.history(), "paste_error": result.error, "paste_text": answer,
        }, status=400)
    if not request.htmx:
        messages.success(request, gettext("Answer accepted."))
        return redirect(artifact)
    return _card(request, artifact, flash="Answer accepted.")


def edit(request, pk: int):
    artifact = get_artifact_for_user(request, pk)
    if artifact.status != NoteArtifact.Status.COMPLETED:
        messages.error(request, gettext("Only a completed artifact can be edited."))
        return redirect(artifact)
    form = EditForm(request.POST or None, initial={"content": artifact.content})
    if request.method == "POST" and form.is_valid():
        try:
            new = pipeline.edit(artifact, request.user, form.cleaned_data["content"])
        except ValueError as exc:
            form.add_error("content", str(exc))
        else:
            if new.artifact_type == "image":
                enqueue_image(new.pk)  # a new prompt: draw it (webhooks follow the picture)
            else:
                enqueue_webhooks(webhooks.create_deliveries(new))
            messages.success(request, gettext("Saved as version %(version)s.") % {"version": new.version})
            return redirect(new)
    return render(request, "artifacts/edit.html", {"a": artifact, "form": form})


@require_POST
def regenerate(request, pk: int):
    artifact = get_artifact_for_user(request, pk)
    try:
        with transaction.atomic():
            new = pipeline.regenerate(artifact, request.user, request.POST.get("generation_mode") or None)
            enqueue_generation(new.pk)
    except pipeline.GenerationSetupError as exc:
        messages.error(request, str(exc))
        return redirect(artifact)
    messages.success(request, gettext("Regenerating as version %(version)s.") % {"version": new.version})
    return redirect(new)


@sensitive_post_parameters("api_key")
def keys(request):
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        provider = form.cleaned_data["provider"]
        key = UserApiKey.objects.for_user(request.user).filter(provider=provider).first() or UserApiKey(
            user=request.user, provider=provider
        )
        key.set_key(form.cleaned_data["api_key"])
        key.save()
        messages.success(request, gettext("Saved your %(provider)s key (%(masked)s).") % {"provider": provider, "masked": key.masked})
        return redirect("artifacts:keys")
    return render(request, "artifacts/keys.html", {"form": form, "keys": UserApiKey.objects.for_user(request.user)})


@require_POST
def key_delete(request, pk: int):
    key = get_object_or_404(UserApiKey.objects.for_user(request.user), pk=pk)
    key.delete()
    messages.success(request, gettext("Deleted your %(provider)s key.") % {"provider": key.provider})
    return redirect("artifacts:keys")


def webhook_list(request):
    form = WebhookForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        problem = webhooks.check_url(form.cleaned_data["url"])
        if problem:
            form.add_error("url", problem)
        else:
            created = Webhook.objects.create(user=request.user, url=form.cleaned_data["url"])
            form = WebhookForm()
    hooks = Webhook.objects.for_user(request.user).prefetch_related("deliveries")
    return render(request, "artifacts/webhooks.html", {"form": form, "hooks": hooks, "created": created})


@require_POST
def webhook_delete(request, pk: int):
    get_object_or_404(Webhook.objects.for_user(request.user), pk=pk).delete()
    messages.success(request, gettext("Webhook deleted."))
    return redirect("artifacts:webhooks")


@require_POST
def batch_create(request):
    form = BatchForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("artifacts:index")
    try:
        with transaction.atomic():
            batch, ids = pipeline.create_batch(
                request.user, list(form.cleaned_data["notes"]), form.cleaned_data["artifact_type"],
                form.cleaned_data["generation_mode"], form.cleaned_data["user_description"],
                delivery=form.cleaned_data.get("delivery") or "interactive",
            )
            enqueue_batch(ids)
    except pipeline.GenerationSetupError as exc:
        messages.error(request, str(exc))
        return redirect("artifacts:index")
    return redirect(batch)


def _batch_context(request, pk: int) -> dict:
    from llm import batch as llm_batch

    batch = get_object_or_404(BatchRun.objects.for_user(request.user), pk=pk)
    return {"batch": batch, "progress": batch.progress(), "items": batch.artifacts.select_related("note").order_by("id"),
            "provider_batch": llm_batch.summary(batch.batch_owner) if batch.delivery == "batch" else None}


@require_POST
def batch_cancel(request, pk: int):
    from llm import batch as llm_batch

    batch = get_object_or_404(BatchRun.objects.for_user(request.user), pk=pk)
    llm_batch.cancel(batch.batch_owner)
    return redirect(batch)


def batch(request, pk: int):
    return render(request, "artifacts/batch.html", _batch_context(request, pk))


def batch_progress(request, pk: int):
    return render(request, "artifacts/_batch_progress.html", _batch_context(request, pk))


def analytics_page(request):
    """Artifact analytics: the same numbers as GET /api/artifacts/usage and /api/artifacts/analytics."""
    from datetime import date

    from .analytics import analytics, usage

    def _date(name):
        try:
            return date.fromisoformat(request.GET[name]) if request.GET.get(name) else None
        except ValueError:
            return None

    start, end = _date("start"), _date("end")
    if start and end and start > end:
        start = end = None
        messages.error(request, gettext("The start date must be on or before the end date; showing the last 30 days."))
    data = analytics(request.user, start, end)
    chart = {"type": "line", "labels": [d["day"] for d in data["cost_trend"]],
             "datasets": [{"label": gettext("Artifact spend (USD)"), "data": [float(d["cost_usd"]) for d in data["cost_trend"]]}]}
    return render(request, "artifacts/analytics.html", {"a": data, "u": usage(request.user, start, end), "chart": chart})


# --- Live generation: the streamed answer (async SSE view) and the Stop button ---------------
from llm.calls import live as llm_live  # noqa: E402

from . import live as live_generation  # noqa: E402


async def live_events(request, pk: int):
    """The artifact's answer as the worker writes it (see artifacts/live.py); ends when it is stored."""
    from django.http import Http404

    user = await request.auser()
    if not await NoteArtifact.objects.for_user(user).filter(pk=pk).aexists():
        raise Http404("No such artifact.")
    if not llm_live.enabled():
        async def unavailable():
            yield llm_live.sse("end", {"status": "unavailable"})

        return llm_live.sse_response(unavailable())

    async def finished() -> bool:
        return not await NoteArtifact.objects.filter(
            pk=pk, status__in=[NoteArtifact.Status.QUEUED, NoteArtifact.Status.RUNNING]).aexists()

    return llm_live.sse_response(llm_live.subscribe(live_generation.key(pk), is_finished=finished))


@require_POST
def stop(request, pk: int):
    artifact = get_artifact_for_user(request, pk)
    stopped = live_generation.stop(artifact)
    artifact.refresh_from_db()
    if request.htmx:
        return _card(request, artifact)
    if stopped:
        messages.info(request, gettext("Stopping the generation."))
    return redirect(artifact)
