"""What the watchdog did: one row per piece of work it found stuck (resumes, or the final failure)."""

from django.db import models


class WatchdogRecord(models.Model):
    """How often the watchdog re-enqueued one piece of work, so it can give up after
    WATCHDOG_MAX_RESUMES instead of resuming something that dies every time (a poison input)."""

    kind = models.CharField(max_length=50, help_text='What the work is, e.g. "codegen.run" or "llm.job".')
    object_id = models.BigIntegerField()
    resumes = models.PositiveIntegerField(default=0)
    last_resumed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="When the watchdog gave up and marked it failed.")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="ops_watchdog_unique_work")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.object_id}: {self.resumes} resume(s)"
