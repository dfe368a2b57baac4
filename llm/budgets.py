"""USD budgets that hold under concurrency.

Before a call its maximum possible cost (input tokens counted, every allowed output token
used) is reserved with one conditional UPDATE per budget: the row only changes when
``spent + reserved + this call <= limit``, so concurrent callers can never reserve past the
limit. After the call the reservation is released and the real cost added.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .errors import LLMBudgetExceeded
from .models import Budget, BudgetUsage

__all__ = ["LLMBudgetExceeded", "Reservation", "reserve", "status_for"]


@dataclass
class Reservation:
    usage_ids: list[int]
    amount: Decimal

    def settle(self, actual: Decimal | None) -> None:
        """Release the reservation and book the real cost (the reserved maximum when unknown)."""
        if not self.usage_ids:
            return
        spent = self.amount if actual is None else actual
        BudgetUsage.objects.filter(pk__in=self.usage_ids).update(
            reserved_usd=F("reserved_usd") - self.amount, spent_usd=F("spent_usd") + spent
        )
        self.usage_ids = []

    def release(self) -> None:
        """Nothing was billed (the request never reached the provider)."""
        self.settle(Decimal("0"))


def period_start(period: str, today: date | None = None) -> date:
    today = today or timezone.now().date()
    return today if period == Budget.Period.DAY else today.replace(day=1)


def applicable(user) -> list[Budget]:
    who = Q(user__isnull=True)
    if getattr(user, "pk", None):
        who |= Q(user=user)
    return list(Budget.objects.filter(who, enabled=True).select_related("user"))


def _usage_row(budget: Budget) -> BudgetUsage:
    start = period_start(budget.period)
    row = BudgetUsage.objects.filter(budget=budget, period_start=start).first()
    if row is None:
        try:
            with transaction.atomic():
                row = BudgetUsage.objects.create(budget=budget, period_start=start)
        except Exception:  # created concurrently
            row = BudgetUsage.objects.get(budget=budget, period_start=start)
    return row


def reserve(user, max_cost: Decimal | None, *, what: str) -> Reservation:
    budgets = applicable(user)
    if not budgets:
        return Reservation([], Decimal("0"))
    if max_cost is None:
        raise LLMBudgetExceeded(
            f"{what} has no known price, so it cannot be checked against the "
            f"{budgets[0].label}; set the model's prices in admin."
        )
    taken: list[int] = []
    for budget in budgets:
        row = _usage_row(budget)
        updated = BudgetUsage.objects.filter(
            pk=row.pk, spent_usd__lte=budget.limit_usd - max_cost - F("reserved_usd")
        ).update(reserved_usd=F("reserved_usd") + max_cost)
        if not updated:
            Reservation(taken, max_cost).release()
            row.refresh_from_db()
            left = max(budget.limit_usd - row.spent_usd - row.reserved_usd, Decimal("0"))
            raise LLMBudgetExceeded(
                f"Refused before sending: the {budget.label} is ${budget.limit_usd:.2f}; "
                f"${row.spent_usd:.4f} spent and ${row.reserved_usd:.4f} reserved by calls in flight leave "
                f"${left:.4f}, and {what} may cost up to ${max_cost:.4f}. Raise the budget in admin, "
                "wait for the next period, or ask for fewer output tokens."
            )
        taken.append(row.pk)
    return Reservation(taken, max_cost)


def status_for(user) -> list[dict]:
    out = []
    for budget in applicable(user):
        row = BudgetUsage.objects.filter(budget=budget, period_start=period_start(budget.period)).first()
        spent = row.spent_usd if row else Decimal("0")
        reserved = row.reserved_usd if row else Decimal("0")
        out.append({"budget": budget, "spent": spent, "reserved": reserved,
                    "left": max(budget.limit_usd - spent - reserved, Decimal("0"))})
    return out
