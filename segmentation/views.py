from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.core.cache import cache
from django.http import Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django.utils.translation import get_language, gettext

from llm.records import csv_lines
from llm.models import LLMProvider
from products.forms import ProductFilterForm
from products.models import Product

from . import conf, pipeline
from .models import LLMInteractionIndex, ProductSegment, ProductTaxonomy, RefinedProductSegment, SegmentationRun

PRODUCTS_PER_PAGE = 50
RUNS_PER_PAGE = 30


def get_run_for_user(request, run_id: str) -> SegmentationRun:
    """The request user's run ``run_id``; another user's run is a 404, as if it did not exist."""
    return get_object_or_404(SegmentationRun.objects.for_user(request.user), pk=run_id)


def index(request):
    runs = SegmentationRun.objects.for_user(request.user)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "segmentation/index.html", {"page": page, "runs": page.object_list,
                                                       "product_count": Product.objects.count()})


def _filtered(query: QueryDict):
    form = ProductFilterForm(query or None)
    products = form.filter(Product.objects.select_related("category", "subcategory")).defer("description", "attributes")
    return form, products


def new_run(request):
    """Choose products from the catalog (filters, tick boxes or all matching), name the category, start."""
    filters = request.POST.get("filters", "") if request.method == "POST" else request.GET.urlencode()
    query = QueryDict(filters)
    form, products = _filtered(query.copy())
    values = {"category": "", "provider": "", "model": "", "temperature": str(conf.default_temperature()),
              "delivery": "interactive"}
    chosen_category = form.cleaned_data.get("category") if form.is_bound else None
    if chosen_category:
        values["category"] = chosen_category.name
    error = ""
    selected: set[int] = set()
    if request.method == "POST":
        values.update({k: request.POST.get(k, "").strip() for k in ("category", "provider", "model", "temperature",
                                                                     "delivery")})
        if request.POST.get("select_all"):
            ids = list(products.order_by().values_list("pk", flat=True)[: conf.max_products() + 1])
        else:
            ids = request.POST.getlist("product_ids")
            selected = {int(pk) for pk in ids if pk.isdigit()}
        try:
            temperature = float(values["temperature"]) if values["temperature"] else None
        except ValueError:
            error = gettext("Temperature must be a number between 0 and 2.")
        if not error:
            try:
                with transaction.atomic():
                    run = pipeline.start_run(owner=request.user, product_ids=ids, category=values["category"],
                                             provider=values["provider"] or None, model=values["model"] or None,
                                             temperature=temperature, delivery=values["delivery"] or "interactive")
                    from .tasks import start

                    start(run.pk, pipeline.pending_batches(run.pk))
            except pipeline.StartError as exc:
                error = str(exc)
            else:
                messages.success(request, gettext("Run %(run)s started over %(count)s products.") % {"run": run.pk, "count": run.total_products})
                return redirect(run)
    page = Paginator(products, PRODUCTS_PER_PAGE).get_page(query.get("page"))
    providers = LLMProvider.objects.filter(enabled=True).order_by("name")
    return render(request, "segmentation/new.html", {
        "form": form, "page": page, "products": page.object_list, "filters": filters, "values": values,
        "error": error, "providers": providers, "selected": selected, "max_products": conf.max_products(),
    }, status=400 if error else 200)


def _batch_summary(run: SegmentationRun) -> dict | None:
    from llm import batch as llm_batch

    return llm_batch.summary(run.batch_owner) if run.delivery == "batch" else None


def _progress_context(run: SegmentationRun) -> dict:
    return {"run": run, "progress": pipeline.progress(run), "batch": _batch_summary(run)}


def run_detail(request, run_id: str):
    run = get_run_for_user(request, run_id)
    return render(request, "segmentation/run.html", _progress_context(run))


def run_progress(request, run_id: str):
    run = get_run_for_user(request, run_id)
    return render(request, "segmentation/_progress.html", _progress_context(run))


@require_POST
def run_cancel(request, run_id: str):
    run = get_run_for_user(request, run_id)
    if pipeline.cancel_run(run):
        messages.success(request, gettext("Run cancelled. Batches already sent finish; nothing new is sent."))
    else:
        messages.error(request, gettext("The run is %(status)s; it cannot be cancelled.") % {"status": run.get_status_display().lower()})
    return redirect(run)


@require_POST
def run_resume(request, run_id: str):
    from .tasks import start

    run = get_run_for_user(request, run_id)
    if run.status == SegmentationRun.Status.COMPLETED:
        messages.error(request, gettext("The run is already completed."))
        return redirect(run)
    with transaction.atomic():
        start(run.pk, pipeline.resume_run(run))
    messages.success(request, gettext("Run resumed: finished batches are kept, the rest are queued again."))
    return redirect(run)


# The results page is bounded whatever the run's size: one page of segments (their products load
# on demand), one page of changes, a summary of the calls and one page of them.
SEGMENTS_PER_PAGE = 20
PRODUCTS_PER_SEGMENT_PAGE = 50
CHANGES_PER_PAGE = 50
CALLS_PER_PAGE = 25
LATEST_FAILURES = 10
RESULTS_CACHE_TTL = 7 * 24 * 3600  # s


def _cached(run: SegmentationRun, name: str, render_html) -> str:
    """``render_html()``, from the cache for a finished run: nothing shown in ``name`` changes once
    the run has finished (a resumed run finishes again with a new ``finished_at``, a new key)."""
    if run.is_active or run.finished_at is None:
        return render_html()
    key = f"segresults:{run.pk}:{run.finished_at.timestamp():.6f}:{get_language()}:{name}"
    html = cache.get(key)
    if html is None:
        html = render_html()
        cache.set(key, str(html), RESULTS_CACHE_TTL)
    return mark_safe(html)  # noqa: S308 -- our own rendered (autoescaped) template


def _page_number(request, name: str = "page") -> str:
    return request.GET.get(name) or "1"


def _segments_html(request, run: SegmentationRun, page_number: str) -> str:
    def render_html():
        page = Paginator(run.taxonomies.order_by("position"), SEGMENTS_PER_PAGE).get_page(page_number)
        taxa = list(page.object_list)
        first_counts = dict(ProductSegment.objects.filter(run=run, taxonomy__in=taxa).values_list("taxonomy")
                            .annotate(n=Count("id")).order_by())
        for taxon in taxa:
            taxon.first_pass_count = first_counts.get(taxon.pk, 0)
        return render_to_string("segmentation/_results_segments.html", {"run": run, "page": page, "taxa": taxa})

    return _cached(run, f"segments:{page_number}", render_html)


def _changes_html(request, run: SegmentationRun, page_number: str) -> str:
    def render_html():
        # EXISTS, not a scalar subquery per row: PostgreSQL runs it as one semi-join over the run.
        first = ProductSegment.objects.filter(run_id=OuterRef("run_id"), product_id=OuterRef("product_id"))
        changed = (RefinedProductSegment.objects.filter(run=run)
                   .filter(Exists(first.exclude(taxonomy_id=OuterRef("taxonomy_id"))))
                   .select_related("product", "taxonomy").only("taxonomy__category_name", "product__id", "product__title")
                   .order_by("product__title", "product_id"))
        page = Paginator(changed, CHANGES_PER_PAGE).get_page(page_number)
        rows = list(page.object_list)
        before = dict(ProductSegment.objects.filter(run=run, product_id__in=[r.product_id for r in rows])
                      .values_list("product_id", "taxonomy__category_name"))
        changes = [{"product": r.product, "before": before.get(r.product_id),
                    "after": getattr(r.taxonomy, "category_name", None)} for r in rows]
        return render_to_string("segmentation/_results_changes.html", {"run": run, "page": page, "changes": changes})

    return _cached(run, f"changes:{page_number}", render_html)


def _calls_summary_html(request, run: SegmentationRun) -> str:
    def render_html():
        calls = LLMInteractionIndex.objects.filter(run=run)
        counts: dict[str, dict[str, int]] = {}
        statuses: set[str] = set()
        for stage, status, n in calls.values_list("interaction_type", "status").annotate(n=Count("id")).order_by():
            counts.setdefault(stage, {})[status] = n
            statuses.add(status)
        columns = sorted(statuses)
        table = [{"stage": stage, "cells": [counts[stage].get(c, 0) for c in columns], "total": sum(counts[stage].values())}
                 for stage in sorted(counts)]
        failures = list(calls.exclude(status__in=["ok", "cache_hit"]).order_by("-id")[:LATEST_FAILURES])
        return render_to_string("segmentation/_results_calls_summary.html", {
            "run": run, "columns": columns, "table": table, "failures": failures,
            "calls_url": reverse("llm:calls") + "?" + urlencode({"run_id": run.pk}),
        })

    return _cached(run, "calls-summary", render_html)


def _calls_html(request, run: SegmentationRun, page_number: str) -> str:
    # Not cached: moving a run's files to S3 (segment_migrate_to_s3) rewrites their paths.
    page = Paginator(LLMInteractionIndex.objects.filter(run=run).order_by("id"), CALLS_PER_PAGE).get_page(page_number)
    return render_to_string("segmentation/_results_calls.html", {"run": run, "page": page})


def run_results(request, run_id: str):
    run = get_run_for_user(request, run_id)
    return render(request, "segmentation/results.html", {
        "run": run, "batch": _batch_summary(run),
        "segments_html": _segments_html(request, run, _page_number(request, "segments")),
        "changes_html": _changes_html(request, run, _page_number(request, "changes")),
        "calls_summary_html": _calls_summary_html(request, run),
        "calls_html": _calls_html(request, run, _page_number(request, "calls")),
    })


# Fragments are rendered without the request: no context processors (the base layout's queries)
# run for them, and nothing in them depends on who asks beyond the run's permission check.
def _fragment(request, run: SegmentationRun, html: str, title: str):
    """An htmx request gets the fragment; a browser without JavaScript gets it inside a page."""
    if request.htmx:
        return HttpResponse(html)
    return render(request, "segmentation/results_part.html", {"run": run, "html": html, "title": title})


def run_results_segments(request, run_id: str):
    run = get_run_for_user(request, run_id)
    return _fragment(request, run, _segments_html(request, run, _page_number(request)), gettext("Segments"))


def run_results_changes(request, run_id: str):
    run = get_run_for_user(request, run_id)
    return _fragment(request, run, _changes_html(request, run, _page_number(request)), gettext("First pass vs refined"))


def run_results_calls(request, run_id: str):
    run = get_run_for_user(request, run_id)
    return _fragment(request, run, _calls_html(request, run, _page_number(request)), gettext("Interaction files"))


def run_results_segment(request, run_id: str, taxonomy_id: int):
    run = get_run_for_user(request, run_id)
    taxon = get_object_or_404(ProductTaxonomy, run=run, pk=taxonomy_id)
    page_number = _page_number(request)

    def render_html():
        rows = (RefinedProductSegment.objects.filter(run=run, taxonomy=taxon).select_related("product")
                .only("taxonomy_id", "product__id", "product__title", "product__brand").order_by("product__title", "product_id"))
        page = Paginator(rows, PRODUCTS_PER_SEGMENT_PAGE).get_page(page_number)
        return render_to_string("segmentation/_results_segment_products.html", {"run": run, "taxon": taxon, "page": page,
                                 "target": f"segment-{taxon.pk}-products"})

    html = _cached(run, f"segment:{taxon.pk}:{page_number}", render_html)
    return _fragment(request, run, html, taxon.category_name)


def run_export(request, run_id: str):
    run = get_run_for_user(request, run_id)
    if not run.taxonomies.exists():
        raise Http404("This run has no results yet.")
    names = dict(ProductTaxonomy.objects.filter(run=run).values_list("pk", "category_name"))

    def rows():
        yield ["product_id", "title", "brand", "first_pass_segment", "confidence", "refined_segment", "changed"]
        refined = (pipeline.with_first_pass(RefinedProductSegment.objects.filter(run=run)).order_by("product_id")
                   .values_list("product_id", "product__title", "product__brand", "taxonomy_id", "first_taxonomy_id",
                                "first_confidence"))
        for pk, title, brand, taxon, before, confidence in refined.iterator(chunk_size=2000):
            yield [pk, title, brand, names.get(before, ""), confidence, names.get(taxon, ""),
                   "yes" if before != taxon else "no"]

    response = StreamingHttpResponse(csv_lines(rows()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{run.pk}.csv"'
    return response
