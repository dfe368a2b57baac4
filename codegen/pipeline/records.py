"""Each step's tokens and cost from its LLMQuery rows, and the run's totals."""

from django.db.models import Sum
from django.utils import timezone

from llm.models import LLMQuery

from ..models import CodegenRun, CodegenStep


def record_usage(step: CodegenStep) -> None:
    rows = LLMQuery.objects.filter(run_id=step.run.run_id, interaction_type=step.interaction_type)
    billed = rows.exclude(status=LLMQuery.Status.CACHE_HIT)
    agg = billed.aggregate(inp=Sum("input_tokens"), out=Sum("output_tokens"), cost=Sum("cost_usd"))
    CodegenStep.objects.filter(pk=step.pk).update(
        attempts=rows.count(), input_tokens=agg["inp"] or 0, output_tokens=agg["out"] or 0, cost_usd=agg["cost"],
    )


def update_totals(run: CodegenRun) -> None:
    agg = run.steps.aggregate(inp=Sum("input_tokens"), out=Sum("output_tokens"), cost=Sum("cost_usd"))
    CodegenRun.objects.filter(pk=run.pk).update(
        total_tokens=(agg["inp"] or 0) + (agg["out"] or 0), total_cost_usd=agg["cost"], updated_at=timezone.now())
