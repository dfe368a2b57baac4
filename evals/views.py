"""The evals pages: experiments, one experiment side by side (with live progress), CSV export,
and promoting a logged call into a suite's dataset. Thin: the work is in runner/summary/promotion."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import export, registry, runner, summary
from .models import Dataset, Experiment


def get_experiment_for_user(request, pk: int) -> Experiment:
    """An experiment the user may see (their own; staff see all), else 404."""
    return get_object_or_404(Experiment.objects.for_user(request.user).select_related("dataset"), pk=pk)


class ExperimentForm(forms.Form):
    suite = forms.ChoiceField(label=_("Suite"))
    variants = forms.CharField(
        label=_("Variants"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One a line: TEMPLATE_VERSION:PROVIDER:MODEL, e.g. 3:openai:gpt-4o-mini. Empty: the suite's current version on the default model."),
    )
    use_cache = forms.BooleanField(label=_("Allow cached answers"), required=False, initial=True)
    delivery = forms.ChoiceField(
        label=_("Delivery"), required=False, initial="interactive",
        choices=[("interactive", _("Interactive (one call at a time)")),
                 ("batch", _("Provider batch (half price, within 24 h)"))],
        help_text=_("Batch sends each variant's cases as provider batches; it needs cached answers allowed."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["suite"].choices = [(s.name, s.name) for s in registry.all_suites()]

    def clean(self):
        data = super().clean()
        suite = registry.get(data["suite"]) if data.get("suite") else None
        if suite is not None:
            try:
                data["variant_specs"] = [runner.parse_variant(line.strip(), suite)
                                         for line in (data.get("variants") or "").splitlines() if line.strip()]
            except runner.VariantSpecError as exc:
                self.add_error("variants", str(exc))
            if data.get("delivery") == "batch" and not data.get("use_cache"):
                self.add_error("delivery", _("Batch delivery needs cached answers allowed (answers arrive through the cache)."))
            if runner.latest_dataset(suite.name) is None:
                self.add_error("suite", _("This suite has no dataset yet: import one (manage.py eval import) or run seed_demo."))
        return data


def experiments(request):
    form = ExperimentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        from . import tasks

        experiment = runner.create_experiment(suite=form.cleaned_data["suite"], variants=form.cleaned_data["variant_specs"] or None,
                                              owner=request.user, use_cache=form.cleaned_data["use_cache"],
                                              delivery=form.cleaned_data.get("delivery") or "interactive")
        tasks.enqueue(experiment.pk)
        return redirect(experiment)
    rows = Experiment.objects.for_user(request.user).select_related("dataset")[:100]
    return render(request, "evals/experiments.html", {"experiments": rows, "form": form,
                                                       "suites": registry.all_suites()})


def experiment_detail(request, pk: int):
    experiment = get_experiment_for_user(request, pk)
    rows = summary.summarize(experiment)
    chart = {
        "points": [{"label": s.label, "cost": float(s.cost_usd) if s.cost_usd is not None else None, "score": s.score,
                    "pareto": s.pareto} for s in rows],
    }
    return render(request, "evals/experiment.html", {
        "experiment": experiment, "rows": rows, "chart": chart, "progress": summary.progress(experiment),
        "batch": _batch_summary(experiment),
        "disagreements": summary.disagreements(experiment, limit=25),
        "agreement": summary.judge_agreement(experiment.suite) if registry.get(experiment.suite).judge else None,
    })


def _batch_summary(experiment: Experiment) -> dict | None:
    from llm import batch as llm_batch

    return llm_batch.summary(experiment.batch_owner) if experiment.delivery == "batch" else None


def experiment_progress(request, pk: int):
    experiment = get_experiment_for_user(request, pk)
    # Polled while the experiment runs: once it ends, the page's tables are stale, so say so.
    return render(request, "evals/_progress.html", {"experiment": experiment, "progress": summary.progress(experiment),
                                                    "batch": _batch_summary(experiment), "polled": True})


@require_POST
def experiment_cancel_batch(request, pk: int):
    from llm import batch as llm_batch

    experiment = get_experiment_for_user(request, pk)
    if llm_batch.cancel(experiment.batch_owner):
        messages.success(request, _("Batch cancelled: answers already made are kept, the other cases fail as cancelled."))
    else:
        messages.error(request, _("No provider batch of this experiment is in progress."))
    return redirect(experiment)


def experiment_csv(request, pk: int):
    experiment = get_experiment_for_user(request, pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="experiment-{experiment.pk}.csv"'
    export.write_csv(experiment, response)
    return response


def suite_history(request, name: str):
    suite = registry.get(name) if name in {s.name for s in registry.all_suites()} else None
    if suite is None:
        from django.http import Http404

        raise Http404("No such suite.")
    points = summary.suite_history(name)
    return render(request, "evals/suite.html", {"suite": suite, "points": points,
                                                "chart": {"points": points}})


@require_POST
def promote_query(request, pk: int):
    """Promote a logged call into a suite's dataset: the case input the suite's run expects,
    rebuilt from the call (``promotion.promote_call``), the user's correction (JSON or text) as the
    expected value."""
    import json

    from llm.web import get_query_for_user

    from .promotion import PromotionError, promote_call

    query = get_query_for_user(request, pk)
    if query.user_id != request.user.pk:
        raise Http404("No such call.")  # staff may read anyone's call; only its owner promotes it
    raw = request.POST.get("expected", "").strip()
    try:
        expected = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        expected = raw
    try:
        case = promote_call(query, dataset=request.POST.get("dataset", ""), expected=expected, user=request.user)
    except PromotionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Call #%(id)s is now case %(key)s of %(dataset)s.") % {
            "id": query.pk, "key": case.key, "dataset": case.dataset})
    return redirect(reverse("llm:call", args=[query.pk]))
