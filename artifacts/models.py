"""What is generated from a note: artifacts and their versions, users' own API keys, batches, webhooks."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables


class ArtifactType(models.TextChoices):
    SUMMARY = "summary", "Summary"
    KEY_POINTS = "key_points", "Key points"
    FLASHCARDS = "flashcards", "Flashcards"
    QUIZ = "quiz", "Quiz"
    EXPLANATION = "explanation", "Explanation"
    CODE_EXAMPLE = "code_example", "Code example"
    DIAGRAM = "diagram", "Diagram (Mermaid)"
    IMAGE = "image", "Image"
    OTHER = "other", "Something else (describe it)"


class GenerationMode(models.TextChoices):
    APP_KEY = "app_key", "The app's model (default)"
    COPY_PASTE = "copy_paste", "Copy/paste into any chat LLM"
    USER_KEY = "user_key", "My own API key"
    BROWSER = "browser", "In my browser (its built-in model, no cost)"


class NoteArtifactQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(owner=user)

    def latest_versions(self):
        """Only the newest version of each artifact chain (no newer version points at it)."""
        return self.filter(children__isnull=True)


class NoteArtifact(models.Model):
    """One version of something generated from a note. Edits and regenerations are new rows."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING_MANUAL = "waiting_manual", "Waiting for a pasted answer"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Stopped"

    class Origin(models.TextChoices):
        GENERATED = "generated", "Generated"
        EDITED = "edited", "Edited by hand"

    note = models.ForeignKey("notes.Note", on_delete=models.CASCADE, related_name="artifacts")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="note_artifacts")
    artifact_type = models.CharField(max_length=20, choices=ArtifactType.choices)
    user_description = models.TextField(blank=True)
    generation_mode = models.CharField(max_length=20, choices=GenerationMode.choices, default=GenerationMode.APP_KEY)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.GENERATED)
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=100, blank=True)
    # The exact request, stored once: a resume after a paste (or a retry) sends it byte for byte.
    system_prompt = models.TextField(blank=True)
    prompt = models.TextField(blank=True)
    prompt_template = models.CharField(max_length=100, blank=True)
    context_report = models.JSONField(default=dict, blank=True, help_text="What the context builder kept and cut.")
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    content = models.TextField(blank=True)
    structured_content = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True, help_text="NULL = unknown.")
    query = models.ForeignKey("llm.LLMQuery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pending_query = models.ForeignKey("llm.LLMQuery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user_key = models.ForeignKey("UserApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="artifacts")
    batch = models.ForeignKey("BatchRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="artifacts")
    version = models.PositiveIntegerField(default=1)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = NoteArtifactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="artifact_owner_created_idx"),
            models.Index(fields=["note", "-created_at"], name="artifact_note_created_idx"),
            models.Index(fields=["status"], name="artifact_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_artifact_type_display()} v{self.version} of note {self.note_id}"

    def get_absolute_url(self) -> str:
        return reverse("artifacts:detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.COMPLETED, self.Status.FAILED}

    @property
    def is_structured(self) -> bool:
        return self.artifact_type in {ArtifactType.FLASHCARDS, ArtifactType.QUIZ}

    def history(self):
        """Every version in this artifact's chain, oldest first (walks parents, then children)."""
        root = self
        seen = {root.pk}
        while root.parent_id and root.parent_id not in seen:
            root = NoteArtifact.objects.get(pk=root.parent_id)
            seen.add(root.pk)
        chain = [root]
        frontier = [root.pk]
        while frontier:
            children = list(NoteArtifact.objects.filter(parent_id__in=frontier).order_by("version", "id"))
            chain.extend(children)
            frontier = [c.pk for c in children]
        return sorted(chain, key=lambda a: (a.version, a.pk))


class ArtifactImage(models.Model):
    """An image made for an image artifact by llm's image service (``llm.calls.images``).

    ``image`` and ``thumbnail`` name the files llm stored (in the default storage); the
    browser gets them through llm's owner-only image view.
    """

    artifact = models.ForeignKey(NoteArtifact, on_delete=models.CASCADE, related_name="images")
    generated = models.ForeignKey("llm.GeneratedImage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    image = models.ImageField(upload_to="artifacts/images/%Y/%m/", blank=True, max_length=500)
    thumbnail = models.ImageField(upload_to="artifacts/thumbs/%Y/%m/", blank=True, max_length=500)
    prompt = models.TextField()
    error = models.TextField(blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def ok(self) -> bool:
        return bool(self.generated_id and self.image)


class OtherArtifactRequest(models.Model):
    """A kind of artifact someone asked for that we do not offer (type "other")."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="other_artifact_requests")
    note = models.ForeignKey("notes.Note", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    artifact = models.ForeignKey(NoteArtifact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    description = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.description[:80]


class UserApiKeyQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)


class UserApiKey(models.Model):
    """A user's own provider key, encrypted at rest (see ``crypto``); only the last 4 characters show."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artifact_api_keys")
    provider = models.CharField(max_length=50, help_text="An llm provider name: openai, anthropic, gemini…")
    encrypted_key = models.TextField(editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    calls = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = UserApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["provider"]
        constraints = [models.UniqueConstraint(fields=["user", "provider"], name="one_key_per_user_provider")]

    def __str__(self) -> str:
        return f"{self.provider} key {self.masked}"

    def __repr__(self) -> str:  # never the key, even encrypted
        return f"<UserApiKey {self.pk} {self.provider} {self.masked}>"

    @property
    def masked(self) -> str:
        return f"••••{self.last4}"

    @sensitive_variables("raw_key")
    def set_key(self, raw_key: str) -> None:
        from .crypto import encrypt

        raw_key = raw_key.strip()
        self.encrypted_key = encrypt(raw_key)
        self.last4 = raw_key[-4:]

    def reveal(self) -> str:
        from .crypto import decrypt

        return decrypt(self.encrypted_key)

    def record_usage(self, input_tokens: int, output_tokens: int, cost_usd) -> None:
        UserApiKey.objects.filter(pk=self.pk).update(
            calls=F("calls") + 1,
            input_tokens=F("input_tokens") + input_tokens,
            output_tokens=F("output_tokens") + output_tokens,
            cost_usd=F("cost_usd") + (cost_usd or 0),
            last_used_at=timezone.now(),
        )


class BatchRunQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)


class BatchRun(models.Model):
    """One artifact type generated for several notes at once (a Celery group)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artifact_batches")
    artifact_type = models.CharField(max_length=20, choices=ArtifactType.choices)
    generation_mode = models.CharField(max_length=20, choices=GenerationMode.choices, default=GenerationMode.APP_KEY)
    user_description = models.TextField(blank=True)
    delivery = models.CharField(
        max_length=12, default="interactive", db_default="interactive",
        help_text="interactive (one call per note) or batch (all notes in one provider batch, half price).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = BatchRunQuerySet.as_manager()

    @property
    def batch_owner(self) -> str:
        """This run's name in llm's batch tables (llm imports no domain app)."""
        return f"artifacts.BatchRun:{self.pk}"

    class Meta:
        ordering = ["-created_at"]

    def get_absolute_url(self) -> str:
        return reverse("artifacts:batch", args=[self.pk])

    def progress(self) -> dict:
        counts = dict(self.artifacts.values_list("status").annotate(n=models.Count("id")))
        total = sum(counts.values())
        done = counts.get(NoteArtifact.Status.COMPLETED, 0) + counts.get(NoteArtifact.Status.FAILED, 0)
        return {
            "total": total,
            "done": done,
            "completed": counts.get(NoteArtifact.Status.COMPLETED, 0),
            "failed": counts.get(NoteArtifact.Status.FAILED, 0),
            "waiting": counts.get(NoteArtifact.Status.WAITING_MANUAL, 0),
            "percent": int(100 * done / total) if total else 100,
            "finished": done == total,
        }


def _new_secret() -> str:
    return secrets.token_hex(32)


class WebhookQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)


class Webhook(models.Model):
    """A URL that receives a signed POST when one of the user's artifacts completes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artifact_webhooks")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=64, default=_new_secret, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One delivery of one event to one webhook; every attempt updates the row and its log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    artifact = models.ForeignKey(NoteArtifact, null=True, on_delete=models.SET_NULL, related_name="+")
    event = models.CharField(max_length=50, default="artifact.completed")
    body = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    log = models.JSONField(default=list, blank=True, help_text="One entry per attempt: time, HTTP status, error.")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
