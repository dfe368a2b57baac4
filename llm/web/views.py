import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext

from .. import hooks
from ..records import interactions
from ..errors import LLMError
from ..calls.estimate import estimate
from .forms import PasteForm, PromptForm, QueryFilterForm
from ..prompts import TemplateError
from ..calls import create_job
from ..calls import pending_for, submit_answer
from ..models import LLMJob, LLMQuery, ManualInteraction, UserPromptTemplate
from ..providers import provider_statuses


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
    return render(request, "llm/call_detail.html", {"row": row, "document": document, "intact": intact,
                                                    "panels": hooks.panels("call_detail", request, row=row)})


def call_file(request, pk: int):
    row = get_query_for_user(request, pk)
    if not row.file_path:
        raise Http404("This call has no interaction file.")
    try:
        data = interactions.read(row.file_path)
    except (FileNotFoundError, OSError):
        raise Http404("The interaction file is missing from storage.") from None
    response = HttpResponse(data, content_type="application/json")
    # A compressed old file (``.json.gz``) is served as the JSON it holds (interactions.read unpacks it).
    response["Content-Disposition"] = f'attachment; filename="{row.file_path.rsplit("/", 1)[-1].removesuffix(interactions.GZ)}"'
    return response


def providers(request):
    return render(request, "llm/providers.html", {"provider_statuses": provider_statuses()})


def prompt(request):
    """The playground: template or free prompt, variables, estimate, then a background job."""
    if request.method == "POST":
        form = PromptForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                rendered = form.rendered()
            except TemplateError as exc:
                form.add_error(None, str(exc))
            else:
                if data["save_as"] and not data["template"]:
                    UserPromptTemplate.objects.update_or_create(
                        owner=request.user, name=data["save_as"],
                        defaults={"system": data["system_prompt"], "user": data["prompt"]},
                    )
                job = create_job(
                    user=request.user, provider=data["provider"], model_name=data["model_name"], prompt=rendered.user,
                    system_prompt=rendered.system, max_tokens=data["max_tokens"] or rendered.params.get("max_tokens"),
                    temperature=data["temperature"] if data["temperature"] is not None else rendered.params.get("temperature"),
                    template_version=rendered.version,
                    variables={n: data.get(f"var_{n}", "") for n in form.variable_names},
                )
                return redirect("llm:job", pk=job.pk)
    else:
        form = PromptForm(user=request.user, initial={"template": request.GET.get("template", "")})
    if request.htmx and request.method == "GET":
        return render(request, "llm/_prompt_variables.html", {"form": form})
    jobs = LLMJob.objects.for_user(request.user).select_related("provider")[:10]
    return render(request, "llm/prompt.html", {"form": form, "jobs": jobs, "provider_statuses": provider_statuses()})


def prompt_estimate(request):
    """htmx: token count and cost range of what the form would send, before sending it."""
    form = PromptForm(request.POST or None, user=request.user)
    context = {}
    if form.is_valid():
        data = form.cleaned_data
        try:
            rendered = form.rendered()
            context["estimate"] = estimate(
                messages=rendered.messages, provider=data["provider"], model=data["model_name"] or None,
                max_tokens=data["max_tokens"] or rendered.params.get("max_tokens"), user=request.user,
            )
        except (TemplateError, LLMError, ValueError) as exc:
            context["problem"] = str(exc)
    else:
        context["problem"] = " ".join(str(e) for errors in form.errors.values() for e in errors)
    return render(request, "llm/_estimate.html", context)


def job(request, pk: int):
    job = get_job_for_user(request, pk)
    template = "llm/_job_status.html" if request.htmx else "llm/job.html"
    from ..calls.jobs import streams_live

    return render(request, template, {"job": job, "live": not job.is_finished and streams_live(job)})


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
            messages.info(request, gettext("This prompt was already answered."))
            return redirect("llm:call", pk=pk)
        if form.is_valid():
            result = submit_answer(pk, form.cleaned_data["answer"], form.cleaned_data["model_name"], request.user)
            if result.ok:
                messages.success(request, gettext("Answer accepted for query #%(pk)s. Whatever was waiting on it is running again.") % {"pk": pk})
                return redirect(reverse("llm:manual-list"))
            error = result.error
            item.refresh_from_db()
    return render(request, "llm/manual_detail.html", {"item": item, "form": form, "error": error})


# --------------------------------------------------------------------------- #
# Images: list + generate form, one image (polled while it runs), its bytes for the owner only
# --------------------------------------------------------------------------- #
from django import forms  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.http import FileResponse  # noqa: E402

from ..calls.images import DEFAULT_IMAGE_MODELS, check_options, create_image_job, resolve_image_model  # noqa: E402
from ..errors import LLMError  # noqa: E402
from ..models import GeneratedImage, LLMProvider  # noqa: E402

IMAGE_SIZES = ["1024x1024", "1024x1536", "1536x1024", "1024x1792", "1792x1024"]
IMAGE_QUALITIES = [("", "Model default"), ("low", "low (gpt-image-1)"), ("medium", "medium (gpt-image-1)"),
                   ("high", "high (gpt-image-1)"), ("standard", "standard (dall-e-3)"), ("hd", "hd (dall-e-3)")]


class ImageForm(forms.Form):
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=4000)
    provider = forms.ModelChoiceField(
        queryset=LLMProvider.objects.filter(enabled=True, kind__in=list(DEFAULT_IMAGE_MODELS)), empty_label=None
    )
    model_name = forms.CharField(
        label="Model", required=False, max_length=100,
        help_text="Blank: gpt-image-1 on OpenAI, gemini-2.5-flash-image on Gemini. OpenAI also has dall-e-3.",
    )
    size = forms.ChoiceField(choices=[(s, s) for s in IMAGE_SIZES], help_text="Gemini ignores the size.")
    quality = forms.ChoiceField(choices=IMAGE_QUALITIES, required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            _, model_row = resolve_image_model(data["provider"], data["model_name"] or None, user=self.user)
            check_options(model_row.name, data["size"], data["quality"])
        except (LLMError, ValueError) as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


def get_image_for_user(request, pk: int) -> GeneratedImage:
    """One of the user's own images, else 404 (images are private, staff included)."""
    return get_object_or_404(GeneratedImage.objects.for_user(request.user).select_related("provider"), pk=pk)


def images(request):
    form = ImageForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        image = create_image_job(
            purpose="llm.images", prompt=data["prompt"], provider=data["provider"], model=data["model_name"] or None,
            size=data["size"], quality=data["quality"], user=request.user,
        )
        return redirect("llm:image", pk=image.pk)
    page = Paginator(GeneratedImage.objects.for_user(request.user).select_related("provider"), 24).get_page(
        request.GET.get("page")
    )
    return render(request, "llm/images.html", {"form": form, "page": page})


def image(request, pk: int):
    item = get_image_for_user(request, pk)
    template = "llm/images_status.html" if request.htmx else "llm/images_detail.html"
    return render(request, template, {"image": item})


def image_file(request, pk: int):
    """The image (or ``?thumb=1`` its thumbnail; ``?download=1`` as an attachment), from storage."""
    item = get_image_for_user(request, pk)
    path = item.thumbnail_path if request.GET.get("thumb") else item.image_path
    # Paths are written by llm.calls.images, but never serve anything outside its folder.
    if not path or not path.startswith("images/") or ".." in path:
        raise Http404("This image has no file.")
    try:
        handle = default_storage.open(path, "rb")
    except (FileNotFoundError, OSError):
        raise Http404("The image file is missing from storage.") from None
    response = FileResponse(
        handle, content_type="image/png", as_attachment=bool(request.GET.get("download")),
        filename=f"image-{item.pk}{'-thumb' if request.GET.get('thumb') else ''}.png",
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response
