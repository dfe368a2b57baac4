import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from . import interactions
from .forms import PasteForm, PromptForm, QueryFilterForm
from .jobs import create_job
from .manual import pending_for, submit_answer
from .models import LLMJob, LLMQuery, ManualInteraction
from .providers import provider_statuses


def get_query_for_user(request, pk: int) -> LLMQuery:
    """A query the user may see (their own; staff see all), else 404."""
    return get_object_or_404(LLMQuery.objects.visible_to(request.user).select_related("provider", "model"), pk=pk)


def get_job_for_user(request, pk: int) -> LLMJob:
    return get_object_or_404(LLMJob.objects.for_user(request.user).select_related("provider"), pk=pk)


def calls(request):
    form = QueryFilterForm(request.GET or None)
    qs = LLMQuery.objects.visible_to(request.user)
    if form.is_valid():
        data = form.cleaned_data
        if data["status"]:
            qs = qs.filter(status=data["status"])
        if data["provider"]:
            qs = qs.filter(provider_name=data["provider"])
        if data["purpose"]:
            qs = qs.filter(purpose__startswith=data["purpose"])
        if data["run_id"]:
            qs = qs.filter(run_id=data["run_id"])
    page = Paginator(qs.only(
        "id", "created_at", "purpose", "provider_name", "model_name", "status", "attempt", "input_tokens",
        "output_tokens", "cost_usd", "latency_ms", "user_id", "run_id",
    ), 50).get_page(request.GET.get("page"))
    query_string = request.GET.copy()
    query_string.pop("page", None)
    return render(request, "llm/calls.html", {"form": form, "page": page, "query_string": query_string.urlencode()})


def call_detail(request, pk: int):
    row = get_query_for_user(request, pk)
    document, intact = None, None
    if row.file_path:
        try:
            raw = interactions.read(row.file_path)
            intact = interactions.verify(row.file_path, row.file_sha256)
            document = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except (FileNotFoundError, OSError, ValueError):
            document = None
    return render(request, "llm/call_detail.html", {"row": row, "document": document, "intact": intact})


def call_file(request, pk: int):
    row = get_query_for_user(request, pk)
    if not row.file_path:
        raise Http404("This call has no interaction file.")
    try:
        data = interactions.read(row.file_path)
    except (FileNotFoundError, OSError):
        raise Http404("The interaction file is missing from storage.") from None
    response = HttpResponse(data, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{row.file_path.rsplit("/", 1)[-1]}"'
    return response


def providers(request):
    return render(request, "llm/providers.html", {"provider_statuses": provider_statuses()})


def prompt(request):
    form = PromptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = create_job(
            user=request.user, provider=data["provider"], model_name=data["model_name"], prompt=data["prompt"],
            system_prompt=data["system_prompt"], max_tokens=data["max_tokens"], temperature=data["temperature"],
        )
        return redirect("llm:job", pk=job.pk)
    jobs = LLMJob.objects.for_user(request.user).select_related("provider")[:10]
    return render(request, "llm/prompt.html", {"form": form, "jobs": jobs, "provider_statuses": provider_statuses()})


def job(request, pk: int):
    job = get_job_for_user(request, pk)
    template = "llm/_job_status.html" if request.htmx else "llm/job.html"
    return render(request, template, {"job": job})


def manual_list(request):
    return render(request, "llm/manual_list.html", {"items": pending_for(request.user).order_by("created_at")})


def manual_detail(request, pk: int):
    qs = ManualInteraction.objects.select_related("query")
    if not request.user.is_staff:
        qs = qs.filter(query__user=request.user)
    item = get_object_or_404(qs, query_id=pk)
    form = PasteForm(request.POST or None, initial={"answer": item.draft_answer})
    error = ""
    if request.method == "POST":
        if not item.is_pending:
            messages.info(request, "This prompt was already answered.")
            return redirect("llm:call", pk=pk)
        if form.is_valid():
            result = submit_answer(pk, form.cleaned_data["answer"], form.cleaned_data["model_name"], request.user)
            if result.ok:
                messages.success(request, f"Answer accepted for query #{pk}. Whatever was waiting on it is running again.")
                return redirect(reverse("llm:manual-list"))
            error = result.error
            item.refresh_from_db()
    return render(request, "llm/manual_detail.html", {"item": item, "form": form, "error": error})
