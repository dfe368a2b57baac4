"""Segmentation runs (seed 004): the run, its input products, the taxonomy, the first-pass and
refined assignments, the index of interaction files, and the per-batch work rows."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from products.models import Product

UNASSIGNED = "Unassigned"


class Stage(models.TextChoices):
    EXTRACT = "extract", "Extract taxonomy"
    CONSOLIDATE = "consolidate", "Consolidate taxonomy"
    REFINE = "refine", "Refine assignments"
    DONE = "done", "Done"


class SegmentationRunQuerySet(models.QuerySet):
    def for_user(self, user):
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(owner=user)


class SegmentationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        WAITING_MANUAL = "waiting_manual", "Waiting for a pasted answer"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.RUNNING, Status.WAITING_MANUAL)

    id = models.CharField(max_length=50, primary_key=True)  # RUN_<ISO>_<hash>
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="segmentation_runs")
    category_name = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.EXTRACT)
    model_config = models.JSONField(default=dict, blank=True)
    processing_params = models.JSONField(default=dict, blank=True)
    total_products = models.PositiveIntegerField(default=0)
    processed_products = models.PositiveIntegerField(default=0)
    result_summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    auto_resumes = models.PositiveIntegerField(default=0, help_text="Times a dead worker's batches were resumed automatically.")
    delivery = models.CharField(
        max_length=12, default="interactive", db_default="interactive",
        help_text="interactive (one call at a time) or batch (each stage's calls in provider batches, half price).",
    )

    objects = SegmentationRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="segrun_owner_created_idx")]

    def __str__(self) -> str:
        return f"{self.pk} ({self.category_name})"

    @property
    def batch_owner(self) -> str:
        """This run's name in llm's batch tables (llm imports no domain app)."""
        return f"segmentation.SegmentationRun:{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("segmentation:run", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


# The ``run`` foreign keys carry no index of their own: every table leads a unique constraint or
# an index with run_id, which serves the joins and the cascade from a deleted run (two fewer
# indexes to update per row written, on the tables a run writes thousands of rows to).
class RunProduct(models.Model):
    run = models.ForeignKey(SegmentationRun, on_delete=models.CASCADE, related_name="run_products", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "product"], name="runproduct_unique")]


class ProductTaxonomy(models.Model):
    run = models.ForeignKey(SegmentationRun, on_delete=models.CASCADE, related_name="taxonomies", db_index=False)
    position = models.PositiveIntegerField(help_text="1-based; S_<position> in the refinement prompts.")
    category_name = models.CharField(max_length=255)
    definition = models.TextField(blank=True)
    product_count = models.PositiveIntegerField(default=0)
    is_unassigned = models.BooleanField(default=False)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="taxonomy_unique_position")]

    def __str__(self) -> str:
        return self.category_name


class ProductSegment(models.Model):
    """First-pass assignment (extract + consolidate). Consolidation hands each refine batch its
    products' first-pass taxonomy; the batch writes these rows in the statement that writes its
    refined rows, so the 2,000-row insert is not on the path between the two stages."""

    run = models.ForeignKey(SegmentationRun, on_delete=models.CASCADE, related_name="segments", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    taxonomy = models.ForeignKey(ProductTaxonomy, on_delete=models.CASCADE, related_name="segments")
    confidence = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "product"], name="segment_unique")]
        indexes = [models.Index(fields=["run", "taxonomy"], name="segment_run_taxonomy_idx")]


class RefinedProductSegment(models.Model):
    run = models.ForeignKey(SegmentationRun, on_delete=models.CASCADE, related_name="refined_segments", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    taxonomy = models.ForeignKey(ProductTaxonomy, on_delete=models.CASCADE, related_name="refined_segments")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "product"], name="refined_unique")]
        indexes = [models.Index(fields=["run", "taxonomy"], name="refined_run_taxonomy_idx")]


class LLMInteractionIndex(models.Model):
    run = models.ForeignKey(SegmentationRun, on_delete=models.CASCADE, related_name="interactions", db_index=False)
    interaction_type = models.CharField(max_length=50)
    batch_id = models.IntegerField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    file_path = models.TextField(blank=True, help_text="Storage path, or s3://bucket/key after migration.")
    prompt_file = models.TextField(blank=True)
    cache_key = models.CharField(max_length=64, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, blank=True)
    query = models.OneToOneField("llm.LLMQuery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]
        indexes = [models.Index(fields=["run", "interaction_type", "batch_id"], name="interaction_run_type_idx")]


class SegmentationBatch(models.Model):
    """One unit of work (one task): an extract batch, a consolidation call, a refine batch."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(SegmentationRun, on_delete=models.CASCADE, related_name="batches", db_index=False)
    stage = models.CharField(max_length=20, choices=Stage.choices)
    index = models.PositiveIntegerField(help_text="1-based batch number (b<index> in the file names).")
    product_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    claimed_by = models.CharField(max_length=100, blank=True, help_text="Task id holding the claim.")
    result = models.JSONField(default=dict, blank=True)
    first_pass = models.JSONField(
        default=list, blank=True,
        help_text="Refine batches: [taxonomy id, confidence] of each product's first-pass assignment, in "
                  "product_ids order. The batch writes them as ProductSegment rows with its refined rows.",
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the task holding the claim.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "stage", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "stage", "index"], name="batch_unique")]
        indexes = [
            models.Index(fields=["run", "stage", "status"], name="batch_run_stage_status_idx"),
            # resume_stale_runs (run by the beat watchdog) looks only at running batches: keep that scan tiny.
            models.Index(fields=["heartbeat_at"], name="batch_running_heartbeat_idx", condition=models.Q(status="running")),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.stage} b{self.index}"
