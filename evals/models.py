"""Datasets of cases, experiments of variants over a dataset, one result per (variant, case), scores.

Every model call an experiment makes is an ``llm.LLMQuery``; ``ResultQuery`` links it to its
result so ``llm`` never needs to know about evals.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class Dataset(models.Model):
    """A named, versioned set of cases. A new version is a new row (the old results keep theirs)."""

    name = models.CharField(max_length=100, help_text="Usually the suite's name, e.g. products.identify_category.")
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    suite = models.CharField(max_length=100, blank=True, help_text="The registered suite these cases are for.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="eval_datasets")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="evals_dataset_name_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Case(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="cases")
    key = models.CharField(max_length=200, help_text="Stable within the dataset (an external id, a line number).")
    input = models.JSONField()
    expected = models.JSONField(null=True, blank=True, help_text="The expected answer or a reference; null = none.")
    tags = models.JSONField(default=list, blank=True)
    # Where the case came from when it was promoted from real work, e.g. "llm.LLMQuery:412".
    source = models.CharField(max_length=200, blank=True)
    source_query = models.ForeignKey("llm.LLMQuery", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", help_text="The logged call the case was promoted from.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset_id", "id"]
        constraints = [models.UniqueConstraint(fields=["dataset", "key"], name="evals_case_key")]

    def __str__(self) -> str:
        return f"{self.dataset} · {self.key}"


class ExperimentQuerySet(models.QuerySet):
    def for_user(self, user):
        if user.is_staff:
            return self
        return self.filter(owner=user)


class Experiment(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for pasted answers"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200, blank=True)
    suite = models.CharField(max_length=100)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="experiments")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="eval_experiments")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    use_cache = models.BooleanField(default=True, help_text="Cached answers are allowed (and counted).")
    delivery = models.CharField(
        max_length=12, default="interactive", db_default="interactive",
        help_text="interactive (one call at a time) or batch (each variant's cases in provider batches, half price).",
    )
    trigger = models.CharField(max_length=20, default="manual", help_text="manual, command, schedule, test …")
    run_id = models.CharField(max_length=64, blank=True, help_text="The llm run id of every call it makes.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["suite", "created_at"], name="evals_exp_suite_created")]

    @property
    def batch_owner(self) -> str:
        """This experiment's name in llm's batch tables (llm imports no domain app)."""
        return f"evals.Experiment:{self.pk}"

    def __str__(self) -> str:
        return self.name or f"{self.suite} #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("evals:experiment", args=[self.pk])


class Variant(models.Model):
    """One column of the matrix: template version × provider/model × parameters."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    template = models.CharField(max_length=100, blank=True)
    template_version = models.PositiveIntegerField(null=True, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=100, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="temperature, max_tokens, …")

    class Meta:
        ordering = ["experiment_id", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        version = f"v{self.template_version}" if self.template_version is not None else "v?"
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{version}:{self.provider or 'default'}:{self.model or 'default'}" + (f" ({extra})" if extra else "")


class CaseResult(models.Model):
    """One variant's answer to one case. Claimed by a worker with a conditional UPDATE."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for a pasted answer"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="results")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    answer = models.JSONField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True, help_text="The suite's main score, 0..1.")
    error_kind = models.CharField(max_length=40, blank=True, help_text="The LLMQuery status or exception class.")
    error = models.TextField(blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cache_hits = models.PositiveSmallIntegerField(default=0)
    calls = models.PositiveSmallIntegerField(default=0)
    pending_query = models.ForeignKey("llm.LLMQuery", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", help_text="The copy/paste call this case waits for.")
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["variant_id", "case_id"]
        constraints = [models.UniqueConstraint(fields=["variant", "case"], name="evals_result_variant_case")]
        indexes = [models.Index(fields=["variant", "status"], name="evals_result_variant_status")]

    def __str__(self) -> str:
        return f"{self.variant} · {self.case.key}: {self.status}"


class ResultQuery(models.Model):
    """The link from a result to each model call it made (the judge's calls too)."""

    result = models.ForeignKey(CaseResult, on_delete=models.CASCADE, related_name="query_links")
    query = models.ForeignKey("llm.LLMQuery", on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=10, default="answer", help_text="answer or judge")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["result", "query"], name="evals_result_query")]


class Score(models.Model):
    """One scorer's verdict. Automatic and judge scores belong to a result; human scores to the
    call that produced the answer (and to a result when one exists)."""

    class Source(models.TextChoices):
        AUTO = "auto", "Automatic"
        JUDGE = "judge", "LLM judge"
        HUMAN = "human", "Human"

    result = models.ForeignKey(CaseResult, null=True, blank=True, on_delete=models.CASCADE, related_name="scores")
    query = models.ForeignKey("llm.LLMQuery", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                              help_text="The call whose answer was scored.")
    scorer = models.CharField(max_length=60)
    value = models.FloatField(help_text="0..1 (1 is best).")
    details = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.AUTO)
    subject = models.CharField(max_length=200, blank=True, help_text="What a human scored, e.g. products.GenerationSession:12.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["source", "scorer"], name="evals_score_source_scorer")]
        constraints = [
            models.CheckConstraint(condition=models.Q(result__isnull=False) | models.Q(query__isnull=False),
                                   name="evals_score_has_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.scorer}={self.value:.3f} ({self.source})"
