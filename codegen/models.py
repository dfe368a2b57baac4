"""Code generation runs, their eleven steps, and the files the steps produced."""

from django.conf import settings
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.urls import reverse


class CodegenRunQuerySet(models.QuerySet):
    def for_user(self, user):
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(owner=user)


class CodegenRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        PARTIAL = "partial", "Partial (a step failed)"
        FAILED = "failed", "Failed"
        WAITING_MANUAL = "waiting_manual", "Waiting for a pasted answer"

    FINISHED = {Status.COMPLETED, Status.PARTIAL, Status.FAILED}

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="codegen_runs",
        help_text="Empty for runs started from the command line without --user.",
    )
    run_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField()
    stack = models.CharField(max_length=300)
    mockup = models.FileField(upload_to="codegen/mockups/", blank=True)
    mockup_media_type = models.CharField(max_length=20, blank=True)
    provider_name = models.CharField(max_length=50, blank=True)
    model_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    failing_step = models.CharField(max_length=100, blank=True, help_text="The step(s) that failed, e.g. \"3.2\".")
    error = models.TextField(blank=True)
    total_tokens = models.PositiveIntegerField(default=0)
    total_cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    log = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CodegenRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.run_id})"

    def get_absolute_url(self) -> str:
        return reverse("codegen:run", args=[self.run_id])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def append_log(self, line: str) -> None:
        CodegenRun.objects.filter(pk=self.pk).update(log=Concat(F("log"), Value(line + "\n")))


class CodegenStep(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        WAITING_MANUAL = "waiting_manual", "Waiting for a pasted answer"

    run = models.ForeignKey(CodegenRun, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=10)
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    max_tokens = models.PositiveIntegerField()
    attempts = models.PositiveIntegerField(default=0, help_text="Logged model calls of this step (retries included).")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    continuations = models.PositiveSmallIntegerField(default=0)
    repaired = models.BooleanField(default=False)
    imports_repaired = models.BooleanField(
        default=False, help_text="The one repair call for imports that no generated file provides was made."
    )
    fresh = models.BooleanField(default=False, help_text="Re-run asked for: bypass the answer cache.")
    output = models.JSONField(null=True, blank=True, help_text="Step 1: the architecture plan.")
    pending_query_id = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="codegen_step_unique_key")]

    def __str__(self) -> str:
        return f"Step {self.key}: {self.title}"

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def dom_id(self) -> str:
        return "step-" + self.key.replace(".", "-")

    @property
    def interaction_type(self) -> str:
        return f"step_{self.key}"

    def append_log(self, line: str) -> None:
        CodegenStep.objects.filter(pk=self.pk).update(log=Concat(F("log"), Value(line + "\n")))


class GeneratedFile(models.Model):
    class Check(models.TextChoices):
        OK = "ok", "Passed"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "No check for this kind of file"

    run = models.ForeignKey(CodegenRun, on_delete=models.CASCADE, related_name="files")
    step = models.ForeignKey(CodegenStep, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=4096)
    # sha256 of the case-folded path: unique per run (a 4 KB path is too long for a btree index,
    # and two paths differing only in case collide on macOS and Windows).
    path_key = models.CharField(max_length=64)
    content = models.TextField()
    purpose = models.TextField(blank=True)
    check_status = models.CharField(max_length=10, choices=Check.choices, default=Check.SKIPPED)
    check_message = models.TextField(blank=True)
    repaired = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["run", "path_key"], name="codegen_file_unique_path")]

    def __str__(self) -> str:
        return self.path

    @property
    def size(self) -> int:
        return len(self.content.encode("utf-8"))
