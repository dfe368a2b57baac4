"""Reviewing a run's segments for the evaluations: mark a product's segment wrong (or right) and
promote the run into the ``segmentation.labelled`` dataset. Kept apart from the results page."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

import evals

from . import feedback
from .models import RefinedProductSegment
from .views import get_run_for_user

PRODUCTS_PER_PAGE = 50


def review(request, run_id: str):
    run = get_run_for_user(request, run_id)
    taxa = list(run.taxonomies.order_by("position"))
    try:
        position = int(request.GET.get("segment") or (taxa[0].position if taxa else 0))
    except ValueError:
        position = taxa[0].position if taxa else 0
    current = next((t for t in taxa if t.position == position), taxa[0] if taxa else None)
    rows = (RefinedProductSegment.objects.filter(run=run, taxonomy=current).select_related("product")
            .only("product__id", "product__title", "product__brand", "taxonomy_id").order_by("product__title", "product_id"))
    page = Paginator(rows, PRODUCTS_PER_PAGE).get_page(request.GET.get("page"))
    marks = evals.human_scores(scorer=feedback.SCORER, user=request.user,
                               subjects=[feedback.subject(run, r.product_id) for r in page])
    items = []
    for r in page:
        mark = marks.get(feedback.subject(run, r.product_id))
        items.append({"row": r, "wrong": mark is not None and mark[0] < 1, "correct": mark[1].get("correct") if mark else None})
    return render(request, "segmentation/review.html", {"run": run, "taxa": taxa, "current": current, "page": page,
                                                        "items": items})


@require_POST
def mark(request, run_id: str):
    run = get_run_for_user(request, run_id)
    back = reverse("segmentation:review", args=[run.pk]) + f"?segment={request.POST.get('segment', '')}&page={request.POST.get('page', '1')}"
    try:
        product_id = int(request.POST.get("product", ""))
        correct = int(request.POST["correct"]) if request.POST.get("correct") else None
    except ValueError:
        messages.error(request, gettext("Pick a product and, if you know it, the right segment."))
        return redirect(back)
    try:
        feedback.mark(run, product_id, request.user, wrong=request.POST.get("verdict") != "right", correct_position=correct)
    except feedback.PromotionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, gettext("Noted."))
    return redirect(back)


@require_POST
def promote(request, run_id: str):
    run = get_run_for_user(request, run_id)
    try:
        case = feedback.promote(run, request.user)
    except feedback.PromotionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, gettext("Added to %(dataset)s as case %(key)s (your corrections applied).") % {
            "dataset": case.dataset, "key": case.key})
    return redirect(reverse("segmentation:review", args=[run.pk]))
