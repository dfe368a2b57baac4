"""The cost dashboard (every user, their own numbers; staff see everyone's) and the health page (staff)."""

from datetime import date

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext, gettext_lazy

from ..calls import budgets
from .. import hooks
from ..records import usage


class DashboardForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("Start"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("End"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    user = forms.ModelChoiceField(queryset=get_user_model().objects.order_by("username"), required=False,
                                  empty_label=gettext_lazy("Everyone"), label=gettext_lazy("User"))
    provider = forms.CharField(label=gettext_lazy("Provider"), required=False, max_length=50)
    model = forms.CharField(label=gettext_lazy("Model"), required=False, max_length=100)
    purpose = forms.CharField(required=False, max_length=100, label=gettext_lazy("App or purpose starts with"))
    mode = forms.ChoiceField(required=False, label=gettext_lazy("Generation mode"), choices=[
        ("", gettext_lazy("Any")), ("app", gettext_lazy("App key")), ("user", gettext_lazy("User's own key")),
        ("manual", gettext_lazy("Copy/paste"))])
    delivery = forms.ChoiceField(required=False, label=gettext_lazy("Delivery"), choices=[
        ("", gettext_lazy("Any")), ("interactive", gettext_lazy("Interactive")),
        ("batch", gettext_lazy("Provider batch (batch prices)"))])

    def __init__(self, *args, viewer=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not (viewer and viewer.is_staff):
            del self.fields["user"]

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(gettext("The start date must be on or before the end date."))
        return data

    def filters(self) -> usage.Filters:
        f = usage.Filters.default()
        if self.is_valid():
            d = self.cleaned_data
            f.start = d.get("start") or f.start
            f.end = d.get("end") or f.end
            f.user_id = d["user"].pk if d.get("user") else None
            f.provider, f.model, f.purpose, f.mode = d.get("provider", ""), d.get("model", ""), d.get("purpose", ""), d.get("mode", "")
            f.delivery = d.get("delivery", "")
        return f


def _chart(chart_type: str, labels: list, datasets: list[tuple[str, list]]) -> dict:
    """Chart data for static/js/charts.js (rendered with json_script, so it is escaped)."""
    return {"type": chart_type, "labels": [str(x) for x in labels],
            "datasets": [{"label": name, "data": [float(v or 0) for v in data]} for name, data in datasets]}


def dashboard(request):
    form = DashboardForm(request.GET or None, viewer=request.user)
    f = form.filters()
    qs = usage.rollups(request.user, f)
    quality = hooks.has_quality()
    data = usage.summary(qs, with_users=request.user.is_staff, purpose_model=quality)
    days, breakdowns = data["days"], data["breakdowns"]
    context = {
        "form": form, "filters": f, "totals": data["totals"], "days": days, "months": data["months"],
        "breakdowns": breakdowns, "budgets": budgets.status_for(request.user),
        "unknown_prices": data["unknown_prices"], "query_string": request.GET.urlencode(),
        "model_prices": usage.prices_of([(r["provider_name"], r["model_name"]) for r in breakdowns["model"]]),
        "chart_days": _chart("bar", [d["day"] for d in days], [(gettext("Spend (USD)"), [d["cost_usd"] for d in days])]),
        "chart_models": _chart("bar", [f"{r['model_name']}" for r in breakdowns["model"]],
                               [(gettext("Spend (USD)"), [r["cost_usd"] for r in breakdowns["model"]])]),
    }
    context["quality_rows"] = _quality_rows(request.user, f, data["purpose_model"]) if quality else None
    context["panels"] = hooks.panels("dashboard", request, filters=f)
    return render(request, "llm/dashboard.html", context)


def _quality_rows(viewer, f: usage.Filters, rows: list[dict]) -> list[dict]:
    """Spend per purpose and model (``rows``) with the mean score of their calls (scores come from
    the apps registered in llm.hooks; llm does not know how they were scored)."""
    scores = hooks.quality(viewer, f)
    for r in rows:
        mean, n = scores.get((r["purpose"], r["model_name"]), (None, 0))
        r["quality"], r["quality_n"] = mean, n
    return rows


def export_csv(request):
    form = DashboardForm(request.GET or None, viewer=request.user)
    f = form.filters()
    response = StreamingHttpResponse(usage.csv_stream(usage.csv_rows(request.user, f)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="llm-usage-{f.start}-{f.end}.csv"'
    return response


def health(request):
    if not request.user.is_staff:
        raise PermissionDenied("The health page is for staff.")
    form = DashboardForm(request.GET or None, viewer=request.user)
    f = form.filters()
    qs = usage.rollups(request.user, f)
    return render(request, "llm/health.html", {
        "form": form, "filters": f, "rows": usage.health(qs), "failures": usage.recent_failures(request.user),
        "unknown_prices": usage.unknown_prices(qs), "price_unknown_models": usage.price_unknown_models(),
        "statuses": usage.FAILURE_STATUSES, "today": date.today(),
    })
