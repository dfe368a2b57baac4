from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.utils.translation import gettext

from llm.errors import LLMConfigurationError

from . import pipeline
from .archive import build_zip, folder_name
from .forms import RunForm
from .highlight import highlighted
from .models import CodegenRun, GeneratedFile
from .tasks import enqueue


def get_run_for_user(request, run_id: str) -> CodegenRun:
    """The run if it belongs to the user; 404 otherwise (others' runs are not even confirmed to exist)."""
    return get_object_or_404(CodegenRun.objects.for_user(request.user), run_id=run_id)


def index(request):
    form = RunForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = pipeline.create_run(
                owner=request.user, name=data["name"], description=data["description"], stack=data["stack"],
                provider=data["provider"].name if data["provider"] else "", model=data["model"],
                mockup=form.mockup_bytes, mockup_media_type=form.mockup_media_type,
            )
        except LLMConfigurationError as exc:
            form.add_error(None, str(exc))
        else:
            enqueue(run.pk)
            return redirect(run)
    runs = CodegenRun.objects.for_user(request.user).annotate(n_files=Count("files"))[:20]
    return render(request, "codegen/index.html", {"form": form, "runs": runs})


def _run_context(run: CodegenRun) -> dict:
    steps = list(run.steps.annotate(n_files=Count("files")).order_by("position"))
    files = list(run.files.select_related("step").defer("content").order_by("step__position", "path"))
    checks = {"ok": 0, "failed": 0, "skipped": 0}
    for f in files:
        checks[f.check_status] = checks.get(f.check_status, 0) + 1
    return {"run": run, "steps": steps, "files": files, "checks": checks}


def run_detail(request, run_id: str):
    run = get_run_for_user(request, run_id)
    template = "codegen/_run_live.html" if request.htmx else "codegen/run.html"
    return render(request, template, _run_context(run))


def file_detail(request, run_id: str, file_id: int):
    run = get_run_for_user(request, run_id)
    file = get_object_or_404(GeneratedFile.objects.select_related("step"), run=run, pk=file_id)
    files = run.files.defer("content").order_by("path")
    return render(request, "codegen/file.html", {
        "run": run, "file": file, "files": files, "code": highlighted(file.path, file.content),
    })


def download(request, run_id: str):
    run = get_run_for_user(request, run_id)
    response = HttpResponse(build_zip(run), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{folder_name(run)}-{run.run_id}.zip"'
    return response


@require_POST
def rerun_step(request, run_id: str, key: str):
    run = get_run_for_user(request, run_id)
    try:
        only = pipeline.prepare_rerun(run, key)
    except pipeline.RerunRefused as exc:
        messages.error(request, str(exc))
    else:
        enqueue(run.pk, only)
        messages.success(request, gettext("Step %(key)s is running again.") % {"key": key})
    return redirect(run)
