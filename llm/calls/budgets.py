"""USD budgets that hold under concurrency.

Before a call its maximum possible cost (input tokens counted, every allowed output token
used) is reserved with one conditional UPDATE per budget: the row only changes when
``spent + reserved + this call <= limit``, so concurrent callers can never reserve past the
limit. After the call the reservation is released and the real cost added.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import definitions
from ..errors import LLMBudgetExceeded
from ..models import Budget, BudgetUsage

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

    def settle_statement(self, actual: Decimal | None) -> tuple[str, list] | None:
        """``settle`` as one SQL statement, to run in the same transaction as the log row's update.

        Call ``settled()`` once it has run; if it could not run, call ``settle`` instead.
        """
        if not self.usage_ids:
            return None
        spent = self.amount if actual is None else actual
        table = BudgetUsage._meta.db_table
        sql = (
            f"UPDATE {table} SET reserved_usd = reserved_usd - %s, spent_usd = spent_usd + %s "
            f"WHERE id IN ({', '.join(['%s'] * len(self.usage_ids))})"
        )
        return sql, [self.amount, spent, *self.usage_ids]

    def settled(self) -> None:
        self.usage_ids = []

    def release(self) -> None:
        """Nothing was billed (the request never reached the provider)."""
        self.settle(Decimal("0"))


def period_start(period: str, today: date | None = None) -> date:
    today = today or timezone.now().date()
    return today if period == Budget.Period.DAY else today.replace(day=1)


def applicable(user) -> list[Budget]:
    """The enabled budgets that cover ``user``: the global ones and the user's own (cached per process)."""
    user_id = getattr(user, "pk", None)
    cached = definitions.enabled_budgets()
    if cached is not None:
        return [b for b in cached if b.user_id is None or (user_id and b.user_id == user_id)]
    who = Q(user__isnull=True)
    if user_id:
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
        start = period_start(budget.period)
        usage_id = _take(budget, start, max_cost)
        if usage_id is None:  # refused, or the period's first call: its usage row doesn't exist yet
            row = _usage_row(budget)
            usage_id = _take(budget, start, max_cost)
        if usage_id is None:
            Reservation(taken, max_cost).release()
            row.refresh_from_db()
            left = max(budget.limit_usd - row.spent_usd - row.reserved_usd, Decimal("0"))
            raise LLMBudgetExceeded(
                f"Refused before sending: the {budget.label} is ${budget.limit_usd:.2f}; "
                f"${row.spent_usd:.4f} spent and ${row.reserved_usd:.4f} reserved by calls in flight leave "
                f"${left:.4f}, and {what} may cost up to ${max_cost:.4f}. Raise the budget in admin, "
                "wait for the next period, or ask for fewer output tokens."
            )
        taken.append(usage_id)
    return Reservation(taken, max_cost)


def _take(budget: Budget, start: date, amount: Decimal) -> int | None:
    """Reserve ``amount`` if it fits under the limit: one conditional UPDATE (so concurrent callers
    can never reserve past the limit), returning the usage row's id, or None when it doesn't fit
    or the row doesn't exist."""
    table = BudgetUsage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET reserved_usd = reserved_usd + %s "
            f"WHERE budget_id = %s AND period_start = %s AND spent_usd <= %s - %s - reserved_usd RETURNING id",
            [amount, budget.pk, start, budget.limit_usd, amount],
        )
        found = cursor.fetchone()
    return found[0] if found else None


def status_for(user) -> list[dict]:
    out = []
    for budget in applicable(user):
        row = BudgetUsage.objects.filter(budget=budget, period_start=period_start(budget.period)).first()
        spent = row.spent_usd if row else Decimal("0")
        reserved = row.reserved_usd if row else Decimal("0")
        out.append({"budget": budget, "spent": spent, "reserved": reserved,
                    "left": max(budget.limit_usd - spent - reserved, Decimal("0"))})
    return out
