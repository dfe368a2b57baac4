from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, F
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.utils.translation import gettext

from llm.csv_export import csv_lines
from llm.models import LLMProvider
from products.forms import ProductFilterForm
from products.models import Product

from . import conf, pipeline
from .models import LLMInteractionIndex, ProductSegment, ProductTaxonomy, RefinedProductSegment, SegmentationRun

PRODUCTS_PER_PAGE = 50
RUNS_PER_PAGE = 30
PRODUCTS_SHOWN_PER_SEGMENT = 200
CHANGES_SHOWN = 500


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
    values = {"category": "", "provider": "", "model": "", "temperature": str(conf.default_temperature())}
    chosen_category = form.cleaned_data.get("category") if form.is_bound else None
    if chosen_category:
        values["category"] = chosen_category.name
    error = ""
    selected: set[int] = set()
    if request.method == "POST":
        values.update({k: request.POST.get(k, "").strip() for k in ("category", "provider", "model", "temperature")})
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
                                             temperature=temperature)
                    from .tasks import enqueue

                    enqueue(pipeline.pending_batches(run.pk))
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


def _progress_context(run: SegmentationRun) -> dict:
    return {"run": run, "progress": pipeline.progress(run)}


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
    from .tasks import enqueue

    run = get_run_for_user(request, run_id)
    if run.status == SegmentationRun.Status.COMPLETED:
        messages.error(request, gettext("The run is already completed."))
        return redirect(run)
    with transaction.atomic():
        enqueue(pipeline.resume_run(run))
    messages.success(request, gettext("Run resumed: finished batches are kept, the rest are queued again."))
    return redirect(run)


def run_results(request, run_id: str):
    run = get_run_for_user(request, run_id)
    taxa = list(run.taxonomies.order_by("position"))
    by_pk = {t.pk: t for t in taxa}
    refined = (RefinedProductSegment.objects.filter(run=run).select_related("product").only(
        "taxonomy_id", "product__id", "product__title", "product__brand").order_by("product__title", "product_id"))
    per_segment = []
    for taxon in taxa:
        rows = list(refined.filter(taxonomy=taxon)[:PRODUCTS_SHOWN_PER_SEGMENT])
        per_segment.append({"taxon": taxon, "products": rows, "more": max(0, taxon.product_count - len(rows))})
    changes = []
    changed = pipeline.with_first_pass(refined).exclude(taxonomy_id=F("first_taxonomy_id"))[:CHANGES_SHOWN]
    for row in changed:
        changes.append({"product": row.product, "before": by_pk.get(row.first_taxonomy_id), "after": by_pk.get(row.taxonomy_id)})
    first_counts = dict(ProductSegment.objects.filter(run=run).values_list("taxonomy").annotate(n=Count("id")))
    for taxon in taxa:
        taxon.first_pass_count = first_counts.get(taxon.pk, 0)
    interactions = LLMInteractionIndex.objects.filter(run=run).order_by("id")
    return render(request, "segmentation/results.html", {
        "run": run, "taxa": taxa, "per_segment": per_segment, "changes": changes, "changes_capped": len(changes) >= CHANGES_SHOWN,
        "interactions": interactions,
    })


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
