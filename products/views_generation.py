"""The generation wizard and bulk pages. Steps run synchronously in the request.

Each step is its own page (/products/generate/<pk>/step/<n>/) with real links and buttons,
so the browser's history, the keyboard and screen readers all work without script.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django.utils.translation import gettext, gettext_lazy

from . import bulk, catalog, feedback, live, pipeline
from .forms import AttributesForm, BulkUploadForm, ContentForm, RawInputForm, SubcategoryChoiceForm, attribute_field_name
from .generation import GenerationError
from .models import BulkGenerationJob, GenerationSession, Step, StepStatus, Subcategory

STEPS = [
    (1, gettext_lazy("Product information"), None),
    (2, gettext_lazy("Category"), Step.IDENTIFY_CATEGORY),
    (3, gettext_lazy("Attributes"), Step.MAP_ATTRIBUTES),
    (4, gettext_lazy("Content"), Step.GENERATE),
]


def get_session_for_user(request, pk: int) -> GenerationSession:
    """The request user's generation session ``pk``; anyone else's is a 404."""
    return get_object_or_404(
        GenerationSession.objects.for_user(request.user).select_related(
            "category", "subcategory__category", "suggested_subcategory__category", "product"
        ),
        pk=pk,
    )


def get_bulk_job_for_user(request, pk: int) -> BulkGenerationJob:
    return get_object_or_404(BulkGenerationJob.objects.for_user(request.user), pk=pk)


def furthest_step(session: GenerationSession) -> int:
    if not session.subcategory_id:
        return 2
    if session.generated_content or session.status_of(Step.GENERATE) != StepStatus.PENDING:
        return 4
    return 3


def step_url(session: GenerationSession, number: int) -> str:
    return reverse("products:wizard-step", args=[session.pk, number]) + "#step-heading"


def _context(request, session, number: int, **extra) -> dict:
    furthest = furthest_step(session) if session else 1
    steps = [
        {"number": n, "label": label, "reachable": session is not None and n <= furthest,
         "url": step_url(session, n) if session else "", "done": n < furthest}
        for n, label, _ in STEPS
    ]
    step_key = STEPS[number - 1][2]
    logs = list(session.step_logs.filter(step=step_key)) if session and step_key else []
    return {
        "session": session, "step": number, "steps": steps, "step_label": STEPS[number - 1][1],
        "step_key": step_key, "step_status": session.status_of(step_key) if session and step_key else "",
        "step_error": (session.step_errors or {}).get(step_key, "") if session and step_key else "",
        "logs": logs, **extra,
    }


@require_http_methods(["GET", "POST"])
def wizard_start(request):
    form = RawInputForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            session = pipeline.create_session(
                owner=request.user, raw_input=form.cleaned_data["raw_input"],
                provider_name=form.cleaned_data["provider"], model_name=form.cleaned_data["model"],
            )
        except GenerationError as exc:
            form.add_error("raw_input", str(exc))
        else:
            pipeline.run_identify(session)
            return redirect(step_url(session, 2))
    recent = GenerationSession.objects.for_user(request.user).select_related("product", "subcategory")[:10]
    return render(request, "products/wizard_input.html", {**_context(request, None, 1), "form": form, "recent": recent})


def wizard_session(request, pk: int):
    session = get_session_for_user(request, pk)
    return redirect(step_url(session, furthest_step(session)))


@require_http_methods(["GET", "POST"])
def wizard_step(request, pk: int, step: int):
    session = get_session_for_user(request, pk)
    if step not in (1, 2, 3, 4):
        raise Http404("No such step.")
    if step > furthest_step(session):
        return redirect(step_url(session, furthest_step(session)))
    handler = {1: _input_step, 2: _category_step, 3: _attributes_step, 4: _content_step}[step]
    return handler(request, session)


def _input_step(request, session):
    initial = {"raw_input": session.raw_input, "provider": session.provider_name, "model": session.model_name}
    form = RawInputForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        session.provider_name, session.model_name = form.cleaned_data["provider"], form.cleaned_data["model"]
        session.save(update_fields=["provider_name", "model_name", "updated_at"])
        try:
            changed = pipeline.update_raw_input(session, form.cleaned_data["raw_input"])
        except GenerationError as exc:
            form.add_error("raw_input", str(exc))
        else:
            pipeline.run_identify(session, force=changed)
            return redirect(step_url(session, 2))
    return render(request, "products/wizard_input.html", {**_context(request, session, 1), "form": form})


def _category_step(request, session):
    action = request.POST.get("action", "")
    initial = {"subcategory": session.subcategory_id or session.suggested_subcategory_id}
    form = SubcategoryChoiceForm(request.POST if action == "choose" else None, initial=initial)
    if request.method == "POST":
        if action == "retry":
            pipeline.run_identify(session, force=True)
            return redirect(step_url(session, 2))
        subcategory = None
        if action == "accept" and session.suggested_subcategory_id:
            subcategory = Subcategory.objects.filter(pk=session.suggested_subcategory_id).first()
        elif action == "choose" and form.is_valid():
            subcategory = form.cleaned_data["subcategory"]
        if subcategory is not None:
            pipeline.choose_subcategory(session, subcategory)
            feedback.category_chosen(session, request.user)
            pipeline.run_map(session)
            return redirect(step_url(session, 3))
    return render(request, "products/wizard_category.html", {**_context(request, session, 2), "form": form})


def _attributes_step(request, session):
    definitions = catalog.definitions(session.subcategory_id)
    action = request.POST.get("action", "")
    if request.method == "POST" and action == "retry":
        pipeline.run_map(session, force=True)
        return redirect(step_url(session, 3))
    rows = pipeline.attribute_rows(session)
    initial = {attribute_field_name(r.definition): r.value for r in rows}
    form = AttributesForm(definitions, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        pipeline.update_attributes(session, form.values_by_name())
        feedback.attributes_reviewed(session, request.user)
        if action == "continue":
            # A page whose script can read server-sent events says so (live=1): step 4 then streams it.
            if request.POST.get("live") == "1" and live.streams(session) and not session.generated_content:
                live.hand_over(session)
            else:
                pipeline.run_generate(session)
            return redirect(step_url(session, 4))
        messages.success(request, gettext("Attribute values saved."))
        return redirect(step_url(session, 3))
    fields = [(row, form[attribute_field_name(row.definition)]) for row in rows]
    return render(request, "products/wizard_attributes.html", {**_context(request, session, 3), "form": form, "fields": fields})


def _content_form_initial(session) -> dict:
    content = session.content
    return {
        "title": content["title"], "description": content["description"],
        "bullet_points": "\n".join(content["bullet_points"]), "search_keywords": "\n".join(content["search_keywords"]),
    }


def _content_step(request, session):
    action = request.POST.get("action", "")
    if request.method == "POST" and action in ("retry", "regenerate"):
        pipeline.run_generate(session, force=True)
        return redirect(step_url(session, 4))
    form = ContentForm(request.POST or None, initial=_content_form_initial(session))
    save_errors = []
    if request.method == "POST" and not session.product_id and form.is_valid():
        pipeline.update_content(session, form.cleaned_data)
        if action == "save_product":
            try:
                product = pipeline.save(session)
            except ValidationError as exc:
                save_errors = exc.messages
            else:
                messages.success(request, gettext("Saved “%(title)s” to the catalog.") % {"title": product.title})
                return redirect(product.get_absolute_url())
        else:
            messages.success(request, gettext("Your edits are kept."))
            return redirect(step_url(session, 4))
    _, problems = pipeline.effective_attributes(session)
    return render(
        request, "products/wizard_content.html",
        {**_context(request, session, 4), "form": form, "problems": problems, "save_errors": save_errors,
         "live": live.should_stream(session)},
    )


async def content_events(request, pk: int):
    """Server-sent events: step 4's content as the model writes it (the call runs here)."""
    from asgiref.sync import sync_to_async

    from llm.calls.live import sse, sse_response

    user = await request.auser()
    session = await GenerationSession.objects.for_user(user).filter(pk=pk).afirst()
    if session is None:
        raise Http404("No such generation session.")
    if not await sync_to_async(live.should_stream)(session):
        async def nothing():
            yield sse("end", {"status": "nothing to stream"})

        return sse_response(nothing())
    return sse_response(live.events(pk))


@require_http_methods(["POST"])
def content_stop(request, pk: int):
    session = get_session_for_user(request, pk)
    live.stop(session)
    if request.htmx:
        return HttpResponse(status=204)
    return redirect(step_url(session, 4))


@require_http_methods(["POST"])
def wizard_promote(request, pk: int):
    """Make this session cases of the product suites, with the person's choices as the expected answers."""
    import evals

    session = get_session_for_user(request, pk)
    try:
        cases = feedback.promote(session, request.user)
    except evals.PromotionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, gettext("Added to the evaluation datasets: %(names)s.") % {
            "names": ", ".join(str(c.dataset) for c in cases)})
    return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/products/") else step_url(session, furthest_step(session)))


# --- Bulk -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def bulk_list(request):
    form = BulkUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            inputs = bulk.read_csv_bytes(upload.read(10 * 1024 * 1024 + 1)[: 10 * 1024 * 1024])
        except bulk.BadInput as exc:
            form.add_error("file", str(exc))
        else:
            job = bulk.create_job(owner=request.user, inputs=inputs, provider_name=form.cleaned_data["provider"],
                                  model_name=form.cleaned_data["model"], name=upload.name,
                                  delivery=form.cleaned_data.get("delivery") or "interactive")
            messages.success(request, gettext("%(count)s product(s) queued.") % {"count": len(inputs)})
            return redirect(job)
    jobs = BulkGenerationJob.objects.for_user(request.user)[:20]
    return render(request, "products/bulk_list.html", {"form": form, "jobs": jobs})


def bulk_detail(request, pk: int):
    from llm import batch as llm_batch

    job = get_bulk_job_for_user(request, pk)
    template = "products/_bulk_progress.html" if request.htmx else "products/bulk_detail.html"
    items = job.items.select_related("session__product").order_by("position")
    batch = llm_batch.summary(job.batch_owner) if job.delivery == "batch" else None
    return render(request, template, {"job": job, "items": items, "batch": batch})


@require_http_methods(["POST"])
def bulk_cancel(request, pk: int):
    job = get_bulk_job_for_user(request, pk)
    n = bulk.cancel_batches(job)
    messages.success(request, gettext("Cancelling %(count)s provider batch(es).") % {"count": n})
    return redirect(job)
