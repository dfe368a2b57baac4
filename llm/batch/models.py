"""Provider batches (OpenAI Batch API, Anthropic Message Batches, Gemini batch mode) and their items.

An ``LLMBatch`` is one batch at one provider; an ``LLMBatchItem`` one request in it, keyed by the
owner's own key (a product id, a case id) and by a ``custom_id`` that is the request's hash (the
answer cache's key), so the same request is never sent twice and results map back whatever
order the provider returns them in.
"""

from django.conf import settings
from django.db import models


class LLMBatchQuerySet(models.QuerySet):
    def for_owner(self, owner: str):
        return self.filter(owner=owner)

    def active(self):
        return self.filter(state__in=LLMBatch.ACTIVE_STATES)


class LLMBatch(models.Model):
    class State(models.TextChoices):
        PREPARING = "preparing", "Preparing (not yet at the provider)"
        SUBMITTED = "submitted", "Submitted"
        IN_PROGRESS = "in_progress", "In progress"
        CANCELLING = "cancelling", "Cancelling"
        ENDED = "ended", "Ended (results stored, being delivered)"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATES = ("preparing", "submitted", "in_progress", "cancelling", "ended")

    class OnMissing(models.TextChoices):
        RESUBMIT = "resubmit", "Resubmit what is missing in a new batch"
        INTERACTIVE = "interactive", "Finish what is missing with interactive calls"

    owner = models.CharField(max_length=120, db_index=True,
                             help_text='What the batch works for, e.g. "products.BulkJob:12" (llm imports no domain app).')
    handler = models.CharField(max_length=100, help_text="The registered answer handler (llm.batch.register_handler).")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    provider = models.ForeignKey("llm.LLMProvider", on_delete=models.PROTECT, related_name="batches")
    provider_kind = models.CharField(max_length=30)
    model_name = models.CharField(max_length=100)
    provider_batch_id = models.CharField(max_length=200, blank=True, db_index=True)
    provider_status = models.CharField(max_length=40, blank=True, help_text="The provider's own status word.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PREPARING, db_index=True)
    on_missing = models.CharField(max_length=12, choices=OnMissing.choices, default=OnMissing.RESUBMIT)
    round = models.PositiveSmallIntegerField(default=1, help_text="1 = first submission; 2+ = resubmission of what was missing.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resubmissions")
    counts = models.JSONField(default=dict, blank=True, help_text="The provider's request counts, as it reports them.")
    total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    polls = models.PositiveIntegerField(default=0)
    budget_usage_ids = models.JSONField(
        default=list, blank=True,
        help_text="The budget usage rows this batch's reservation holds (llm/calls/budgets.py); each item holds its share.")
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A poller holds it until then.")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LLMBatchQuerySet.as_manager()

    class Meta:
        app_label = "llm"
        ordering = ["-created_at", "-id"]
        verbose_name = "LLM batch"
        verbose_name_plural = "LLM batches"

    def __str__(self) -> str:
        return f"Batch #{self.pk} {self.provider_kind} {self.provider_batch_id or '(not submitted)'} {self.state}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES


class LLMBatchItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the provider"
        SUCCEEDED = "succeeded", "Answered (not yet delivered)"
        ERRORED = "errored", "The provider failed this request"
        EXPIRED = "expired", "Expired before it ran"
        CANCELED = "canceled", "Cancelled"
        DELIVERED = "delivered", "Delivered to its handler"
        FAILED = "failed", "Delivered as a failure"
        RESUBMITTED = "resubmitted", "Moved to a later batch"

    batch = models.ForeignKey(LLMBatch, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=200, help_text="The owner's key for this request (a product id, a case id…).")
    custom_id = models.CharField(max_length=64, db_index=True, help_text="The request's hash (the answer cache key).")
    request = models.JSONField(help_text="What complete() needs to ask it again: purpose, messages, schema, limits.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    result = models.JSONField(null=True, blank=True, help_text="The provider's result for this request, verbatim.")
    error = models.TextField(blank=True)
    query = models.ForeignKey("llm.LLMQuery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reserved_usd = models.DecimalField(
        max_digits=14, decimal_places=8, default=0,
        help_text="This request's most possible cost at batch prices, reserved against the budgets until it is delivered.")
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "llm"
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["batch", "key"], name="llm_batch_item_one_per_key")]

    def __str__(self) -> str:
        return f"Item {self.key} of batch #{self.batch_id} ({self.status})"
