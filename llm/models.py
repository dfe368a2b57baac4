"""Providers, models with their prices, and one logged row per LLM call attempt."""

import os

from django.conf import settings
from django.db import models
from django.db.models import Q

from ops.context import current_request_id

from .prompts import TemplateError, check_marker, check_variables, get as get_template

# Environment variables each provider kind reads when its row leaves them blank.
KIND_ENV = {
    "openai": {"key": "OPENAI_API_KEY", "base_url": "OPENAI_BASE_URL"},
    "anthropic": {"key": "ANTHROPIC_API_KEY", "base_url": "ANTHROPIC_BASE_URL"},
    "gemini": {"key": "GEMINI_API_KEY", "base_url": "GEMINI_BASE_URL"},
    "openai_compatible": {"key": "", "base_url": ""},
    "manual": {"key": "", "base_url": ""},
}


class LLMProvider(models.Model):
    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI"
        ANTHROPIC = "anthropic", "Anthropic"
        GEMINI = "gemini", "Google Gemini"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible server"
        MANUAL = "manual", "Manual (copy/paste into any chat LLM)"

    class KeySource(models.TextChoices):
        ENV = "env", "Environment variable"
        NONE = "none", "No key needed"

    name = models.SlugField(max_length=50, unique=True)
    display_name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    base_url = models.URLField(
        blank=True,
        help_text="Leave blank to use the environment (OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GEMINI_BASE_URL) "
        "or the SDK's default. Required for OpenAI-compatible servers.",
    )
    key_source = models.CharField(max_length=10, choices=KeySource.choices, default=KeySource.ENV)
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable holding the key (never the key itself)."
    )
    default_model = models.CharField(max_length=100, blank=True)
    enabled = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(null=True, blank=True, help_text="Per-request timeout; blank = LLM_REQUEST_TIMEOUT.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "LLM provider"

    def __str__(self) -> str:
        return self.display_name or self.name

    @property
    def label(self) -> str:
        return str(self)

    def resolved_base_url(self) -> str:
        if self.base_url:
            return self.base_url
        env_name = KIND_ENV.get(self.kind, {}).get("base_url")
        return os.environ.get(env_name, "") if env_name else ""

    def key_env_name(self) -> str:
        return self.api_key_env or KIND_ENV.get(self.kind, {}).get("key", "")

    def api_key(self) -> str:
        if self.key_source == self.KeySource.NONE:
            return ""
        name = self.key_env_name()
        return os.environ.get(name, "") if name else ""

    def configuration_problem(self) -> str:
        """Empty when the provider can be called; otherwise what to fix, in one sentence."""
        if not self.enabled:
            return f"Provider {self.name} is disabled; enable it in admin."
        if self.kind == self.Kind.MANUAL:
            return ""
        if self.kind == self.Kind.OPENAI_COMPATIBLE and not self.resolved_base_url():
            return f"Provider {self.name} needs a base URL (e.g. http://127.0.0.1:11434/v1 for Ollama); set it in admin."
        if self.key_source == self.KeySource.ENV and not self.api_key():
            return f"Provider {self.name} has no API key: set the {self.key_env_name() or 'API key'} environment variable."
        return ""

    @property
    def is_configured(self) -> bool:
        return not self.configuration_problem()


class LLMModelQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The shared models and the viewer's own; staff see every row."""
        if user.is_staff:
            return self
        return self.filter(Q(owner__isnull=True) | Q(owner=user.pk))

    def price_unknown(self):
        return self.filter(Q(input_price_per_1m__isnull=True) | Q(output_price_per_1m__isnull=True)).exclude(
            provider__kind=LLMProvider.Kind.MANUAL
        )


class LLMModel(models.Model):
    class PriceSource(models.TextChoices):
        BUNDLED = "bundled", "Bundled price list"
        IMPORTED = "imported", "Imported price file (sync-prices --from)"
        ADMIN = "admin", "Edited in admin"
        UNKNOWN = "unknown", "Unknown"

    provider = models.ForeignKey(LLMProvider, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=100)
    display_name = models.CharField(max_length=100, blank=True)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    # USD per one million tokens. NULL = unknown (never treated as free).
    input_price_per_1m = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    cached_input_price_per_1m = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    cache_write_price_per_1m = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True,
        help_text="Cache writes with the default lifetime (Anthropic: 5 minutes, 1.25x input). Blank = input price.",
    )
    cache_write_1h_price_per_1m = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True,
        help_text="Anthropic's 1-hour cache writes (2x input). Blank = the 5-minute write price.",
    )
    output_price_per_1m = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    batch_price_multiplier = models.DecimalField(
        max_digits=5, decimal_places=3, null=True, blank=True,
        help_text="What a provider batch (OpenAI Batch API, Anthropic Message Batches, Gemini batch mode) costs "
                  "against the prices above, e.g. 0.5. Blank = the model has no batch price (batch costs the same).",
    )
    tiers = models.JSONField(
        default=list, blank=True,
        help_text='Prices that replace the ones above when a request\'s prompt (every input token, cached ones '
                  'included) is longer than a threshold, for every token of that request, e.g. '
                  '[{"above_input_tokens": 200000, "input": "2.50", "output": "15.00", "cached_input": "0.25"}]. '
                  "Keys: above_input_tokens, input, output, cached_input, cache_write, cache_write_1h (USD per 1M).",
    )
    retired = models.BooleanField(
        default=False, help_text="The provider retired the model (or the price list no longer has it); kept for the log."
    )
    image_prices = models.JSONField(
        default=dict, blank=True, help_text='USD per generated image by "size/quality", e.g. {"1024x1024/standard": "0.04"}.'
    )
    supports_vision = models.BooleanField(default=False)
    supports_json_schema = models.BooleanField(default=True)
    supports_image_generation = models.BooleanField(default=False)
    rpm_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute across all processes (blank = no limit)."
    )
    tpm_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tokens per minute (input + max output) across all processes (blank = no limit)."
    )
    max_concurrent = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Requests in flight at once across all processes (blank = no limit). Workers beyond it "
                  "prepare their next call and wait for a free slot.",
    )
    price_source = models.CharField(max_length=10, choices=PriceSource.choices, default=PriceSource.UNKNOWN)
    prices_as_of = models.DateField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    # A name a (non-staff) user typed that no row had: listed to that user only, so the model list
    # tells no one what others tried. Staff clear it to share the model with everyone. CASCADE, not
    # SET_NULL: a deleted user's names must not become shared (logged calls keep model_name).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        help_text="Set when a user's call added this model: only they (and staff) see it listed. Blank = shared.",
    )

    objects = LLMModelQuerySet.as_manager()

    def clean(self):
        from django.core.exceptions import ValidationError

        from .tiers import PriceError, check_tiers

        try:
            self.tiers = check_tiers(self.tiers)
        except PriceError as exc:
            raise ValidationError({"tiers": str(exc)}) from None

    class Meta:
        ordering = ["provider__name", "name"]
        unique_together = [("provider", "name")]
        verbose_name = "LLM model"

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.name}"

    @property
    def tier_rows(self) -> list["PriceTierView"]:
        """The long-context tiers, for display."""
        return [PriceTierView(t) for t in (self.tiers or []) if isinstance(t, dict) and "above_input_tokens" in t]

    @property
    def price_known(self) -> bool:
        if self.provider.kind == LLMProvider.Kind.MANUAL:
            return True
        if self.supports_image_generation and self.image_prices:
            return True
        return self.input_price_per_1m is not None and self.output_price_per_1m is not None


class PriceTierView:
    """One tier of ``LLMModel.tiers`` as templates and admin show it."""

    def __init__(self, tier: dict):
        self.above_input_tokens = tier["above_input_tokens"]
        self.input, self.output = tier.get("input"), tier.get("output")
        self.cached_input, self.cache_write, self.cache_write_1h = (
            tier.get("cached_input"), tier.get("cache_write"), tier.get("cache_write_1h"))

    @property
    def label(self) -> str:
        parts = [f"${self.input} in", f"${self.output} out"]
        parts += [f"${v} {name}" for name, v in (("cached", self.cached_input), ("5m write", self.cache_write),
                                                 ("1h write", self.cache_write_1h)) if v is not None]
        return f"above {self.above_input_tokens:,} input tokens: " + ", ".join(parts)


class LLMQueryQuerySet(models.QuerySet):
    def visible_to(self, user):
        if user.is_staff:
            return self
        return self.filter(user=user)


class LLMQuery(models.Model):
    """One attempt at one model call (failures included). Written before the call, updated after."""

    class Status(models.TextChoices):
        STARTED = "started", "Started"
        OK = "ok", "OK"
        ERROR = "error", "Error"
        RATE_LIMITED = "rate_limited", "Rate limited"
        TIMEOUT = "timeout", "Timeout"
        INVALID_OUTPUT = "invalid_output", "Invalid output"
        TRUNCATED = "truncated", "Truncated"
        CACHE_HIT = "cache_hit", "Cache hit"
        PENDING_MANUAL = "pending_manual", "Waiting for a pasted answer"
        BUDGET_EXCEEDED = "budget_exceeded", "Refused: budget reached"
        REFUSED = "refused", "Declined by the model"
        BLOCKED = "blocked", "Blocked by a safety filter"
        QUOTA_EXHAUSTED = "quota_exhausted", "Out of credit / quota"
        CONTEXT_EXCEEDED = "context_exceeded", "Stopped: context window full"
        PAUSED = "paused", "Stopped: turn paused by the provider"
        # Streamed calls (llm/calls/streaming.py) that did not run to the end; the partial text is logged.
        CANCELLED = "cancelled", "Cancelled: stopped by the user"
        INTERRUPTED = "interrupted", "Stream cut off by the provider"
        CLIENT_CLOSED = "client_closed", "Stream abandoned: the page was closed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_queries")
    purpose = models.CharField(max_length=100, help_text="app.step, e.g. segmentation.extract_taxonomy")
    run_id = models.CharField(max_length=64, blank=True, help_text="The run this call belongs to (RUN_<ts>_<hash>), if any.")
    interaction_type = models.CharField(max_length=50, blank=True)
    batch = models.IntegerField(null=True, blank=True)
    # How the answer came: one call at a time, or in a provider batch (llm/batch/) at batch prices.
    # (db_default too: raw bulk inserts, e.g. bench/dashboard_scale.py, name only the columns they know)
    delivery = models.CharField(max_length=12, default="interactive", db_default="interactive")
    provider_batch_id = models.CharField(max_length=200, blank=True, default="", db_default="",
                                         help_text="The provider's batch id, for batch answers.")
    batch_custom_id = models.CharField(max_length=64, blank=True, default="", db_default="",
                                       help_text="The request's custom id in that batch.")
    provider = models.ForeignKey(LLMProvider, null=True, on_delete=models.SET_NULL, related_name="queries")
    model = models.ForeignKey(LLMModel, null=True, on_delete=models.SET_NULL, related_name="queries")
    provider_name = models.CharField(max_length=50)
    model_name = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    cache_write_input_tokens = models.PositiveIntegerField(default=0)
    cache_write_1h_input_tokens = models.PositiveIntegerField(
        default=0, help_text="Of the cache writes, those with a 1-hour lifetime (priced apart)."
    )
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    price_tier = models.CharField(
        max_length=60, blank=True, help_text="The long-context price tier charged (blank = the base prices)."
    )
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True, help_text="NULL = price unknown.")
    saved_cost_usd = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, blank=True, help_text="For cache hits: what the original call cost."
    )
    prompt_cache_saved_usd = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, blank=True,
        help_text="What the provider's prompt caching saved: the cost at full input price minus the cost "
                  "(negative for a cache write). NULL = no cached or cache-write tokens, or price unknown.",
    )
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.STARTED)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    stop_reason = models.CharField(
        max_length=50, blank=True,
        help_text="Why the provider stopped, in its own words (finish_reason / stop_reason / finishReason / blockReason).",
    )
    error = models.TextField(blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    key_source = models.CharField(
        max_length=10, default="app", help_text="Whose key paid: app (ours), user (their own key), manual (copy/paste)."
    )
    cache_key = models.CharField(max_length=64, blank=True)
    prompt_template = models.CharField(
        max_length=200, blank=True, default="", db_default="",
        help_text="The prompt template(s) the messages were rendered from, with version, e.g. segmentation.refine_assignments_v0.",
    )
    # The web request (or task) that led to this call: the same id is in the log lines of the
    # web process and the workers (ops/context.py). Filled from the context when the row is created.
    request_id = models.CharField(max_length=64, blank=True, db_index=True, default=current_request_id)
    file_path = models.CharField(max_length=500, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    usage_estimated = models.BooleanField(  # db_default: raw INSERTs (bench/dashboard_scale.py) need no change
        default=False, db_default=False, help_text="The provider reported no usage (a stream cut short): tokens and cost are our estimate.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = LLMQueryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "LLM query"
        verbose_name_plural = "LLM queries"
        indexes = [
            models.Index(fields=["created_at"]),
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["purpose", "created_at"]),
            models.Index(fields=["provider_name", "model_name", "created_at"]),
            models.Index(fields=["run_id"]),
            models.Index(fields=["cache_key", "status"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.purpose} {self.provider_name}/{self.model_name} a{self.attempt} {self.status}"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def is_failure(self) -> bool:
        return self.status in {
            self.Status.ERROR,
            self.Status.RATE_LIMITED,
            self.Status.TIMEOUT,
            self.Status.INVALID_OUTPUT,
            self.Status.TRUNCATED,
        }


class ManualInteraction(models.Model):
    """The prompt of a call on the manual provider, waiting for a person to paste the answer."""

    query = models.OneToOneField(LLMQuery, on_delete=models.CASCADE, related_name="manual")
    prompt_text = models.TextField()
    messages = models.JSONField(default=list)
    json_schema = models.JSONField(null=True, blank=True)
    schema_name = models.CharField(max_length=100, blank=True)
    draft_answer = models.TextField(blank=True, help_text="The last pasted text, kept when it failed validation.")
    answer_text = models.TextField(blank=True)
    answered_model_name = models.CharField(max_length=100, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    paste_attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Manual interaction for query #{self.query_id}"

    @property
    def is_pending(self) -> bool:
        return self.answered_at is None


class LLMJobQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)


class LLMJob(models.Model):
    """One prompt run in the background (the prompt page); the final answer lands on the row."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING_MANUAL = "waiting_manual", "Waiting for a pasted answer"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Stopped"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="llm_jobs")
    provider = models.ForeignKey(LLMProvider, on_delete=models.PROTECT)
    model_name = models.CharField(max_length=100, blank=True)
    system_prompt = models.TextField(blank=True)
    prompt = models.TextField()
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    template_version = models.CharField(max_length=150, blank=True, help_text="The template the prompt came from, if any.")
    variables = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    result_text = models.TextField(blank=True)
    error = models.TextField(blank=True)
    query = models.ForeignKey(LLMQuery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pending_query = models.ForeignKey(LLMQuery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last took the job.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LLMJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Job #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.COMPLETED, self.Status.FAILED, self.Status.CANCELLED}


class LLMCacheEntry(models.Model):
    """A stored answer, shared by every process: an identical request is answered from here."""

    key = models.CharField(max_length=64, unique=True)
    provider_name = models.CharField(max_length=50)
    model_name = models.CharField(max_length=100)
    purpose = models.CharField(max_length=100, blank=True)
    response_text = models.TextField()
    usage = models.JSONField(default=dict)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    source_query = models.ForeignKey(LLMQuery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    file_path = models.CharField(max_length=500, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = "LLM cache entry"
        verbose_name_plural = "LLM cache entries"

    def __str__(self) -> str:
        return f"{self.provider_name}/{self.model_name} {self.key[:12]}"


class Budget(models.Model):
    """A USD limit per day or month, for everyone (global) or one user. Enforced before each call."""

    class Period(models.TextChoices):
        DAY = "day", "Per day"
        MONTH = "month", "Per month"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="llm_budgets",
        help_text="Blank = a global budget shared by everyone.",
    )
    period = models.CharField(max_length=5, choices=Period.choices)
    limit_usd = models.DecimalField(max_digits=12, decimal_places=4)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "period"]
        constraints = [
            models.UniqueConstraint(fields=["user", "period"], name="one_budget_per_user_period"),
            models.UniqueConstraint(fields=["period"], condition=Q(user__isnull=True), name="one_global_budget_per_period"),
        ]

    def __str__(self) -> str:
        who = f"user {self.user}" if self.user_id else "global"
        return f"{self.get_period_display()} budget ({who}): ${self.limit_usd}"

    @property
    def label(self) -> str:
        who = f"for {self.user}" if self.user_id else "(global)"
        return f"{'daily' if self.period == self.Period.DAY else 'monthly'} budget {who}"


class BudgetUsage(models.Model):
    """Spend and in-flight reservations of one budget in one period (a day or a month)."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="usage")
    period_start = models.DateField()
    spent_usd = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    reserved_usd = models.DecimalField(max_digits=16, decimal_places=8, default=0)

    class Meta:
        unique_together = [("budget", "period_start")]

    def __str__(self) -> str:
        return f"{self.budget} from {self.period_start}: spent {self.spent_usd}, reserved {self.reserved_usd}"


class GeneratedImageQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user)


class GeneratedImage(models.Model):
    """One image request (a job): prompt in, stored image and thumbnail out, its call logged as an LLMQuery."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_images")
    purpose = models.CharField(max_length=100)
    run_id = models.CharField(max_length=64, blank=True)
    provider = models.ForeignKey(LLMProvider, null=True, on_delete=models.SET_NULL, related_name="+")
    model_name = models.CharField(max_length=100)
    prompt = models.TextField()
    size = models.CharField(max_length=20, default="1024x1024")
    quality = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    image_path = models.CharField(max_length=500, blank=True)
    thumbnail_path = models.CharField(max_length=500, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    bytes = models.PositiveIntegerField(null=True, blank=True)
    revised_prompt = models.TextField(blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    query = models.ForeignKey(LLMQuery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last took the job.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = GeneratedImageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Image #{self.pk} ({self.status})"


class PromptOverrideQuerySet(models.QuerySet):
    def active_for(self, name: str, version: int):
        return self.filter(name=name, template_version=version, active=True).order_by("-revision").first()


class PromptOverride(models.Model):
    """An admin's database override of a file template. Every save is a new revision; history stays."""

    name = models.CharField(max_length=100, help_text="Template name, e.g. character_background or segmentation.refine_assignments.")
    template_version = models.PositiveIntegerField(default=0, help_text="The file template version it overrides (the N in _vN).")
    revision = models.PositiveIntegerField(editable=False, default=1)
    system = models.TextField(blank=True, help_text="Blank keeps the file's system text.")
    user = models.TextField(blank=True, help_text="Blank keeps the file's prompt text.")
    note = models.CharField(max_length=200, blank=True, help_text="Why it changed.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PromptOverrideQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-revision"]
        unique_together = [("name", "template_version", "revision")]

    def __str__(self) -> str:
        return f"{self.name}_v{self.template_version} override r{self.revision}"

    def save(self, *args, **kwargs):
        if self._state.adding:
            last = PromptOverride.objects.filter(name=self.name, template_version=self.template_version).aggregate(
                models.Max("revision")
            )["revision__max"]
            self.revision = (last or 0) + 1
        super().save(*args, **kwargs)

    def clean(self):
        from django.core.exceptions import ValidationError

        try:
            template = get_template(self.name, self.template_version)
        except TemplateError as exc:
            raise ValidationError({"name": str(exc)}) from None
        try:
            check_variables(f"Override of {template.key}", template.variables, self.system, self.user)
            check_marker(f"Override of {template.key}", self.system or template.system, self.user or template.user)
        except TemplateError as exc:
            raise ValidationError(str(exc)) from None


class UserPromptTemplate(models.Model):
    """A user's own saved prompt (seed 001 phase 8: custom prompt templates)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompt_templates")
    name = models.CharField(max_length=100)
    system = models.TextField(blank=True)
    user = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        unique_together = [("owner", "name")]

    def __str__(self) -> str:
        return self.name


# Latency histogram bucket upper bounds (ms) of the daily rollup; a last, open-ended bucket follows.
LATENCY_BUCKETS_MS = [100, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000]
LATENCY_COLUMNS = [f"lat_b{i}" for i in range(len(LATENCY_BUCKETS_MS) + 1)]
ROLLUP_DIMENSIONS = ["day", "user_ref", "purpose", "provider_name", "model_name", "status", "key_source", "delivery"]


class UsageDaily(models.Model):
    """Calls aggregated per day and dimension, kept current as each call is logged.

    The dashboards read only this table, so they cost the same with a thousand or a million
    logged calls. ``manage.py llm rebuild-rollups`` recomputes it from LLMQuery.
    """

    day = models.DateField()
    user_ref = models.BigIntegerField(default=0, help_text="The user's id; 0 = no user.")
    purpose = models.CharField(max_length=100)
    provider_name = models.CharField(max_length=50)
    model_name = models.CharField(max_length=100)
    status = models.CharField(max_length=20)
    key_source = models.CharField(max_length=10, default="app")
    delivery = models.CharField(max_length=12, default="interactive", db_default="interactive",
                                help_text="interactive, or batch (answered in a provider batch at batch prices).")
    calls = models.PositiveIntegerField(default=0)
    retry_calls = models.PositiveIntegerField(default=0, help_text="Calls that were a retry (attempt > 1).")
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=0, help_text="Sum of the known costs.")
    unknown_cost_calls = models.PositiveIntegerField(default=0)
    saved_cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    prompt_cache_saved_usd = models.DecimalField(
        max_digits=18, decimal_places=8, default=0, db_default=0, help_text="Saved by the providers' prompt caching."
    )
    latency_ms_sum = models.BigIntegerField(default=0)
    lat_b0 = models.PositiveIntegerField(default=0)
    lat_b1 = models.PositiveIntegerField(default=0)
    lat_b2 = models.PositiveIntegerField(default=0)
    lat_b3 = models.PositiveIntegerField(default=0)
    lat_b4 = models.PositiveIntegerField(default=0)
    lat_b5 = models.PositiveIntegerField(default=0)
    lat_b6 = models.PositiveIntegerField(default=0)
    lat_b7 = models.PositiveIntegerField(default=0)
    lat_b8 = models.PositiveIntegerField(default=0)
    lat_b9 = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=ROLLUP_DIMENSIONS, name="usage_daily_one_row_per_dimension")]
        indexes = [models.Index(fields=["day"]), models.Index(fields=["user_ref", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.purpose} {self.provider_name}/{self.model_name} {self.status}: {self.calls}"


from .batch.models import LLMBatch, LLMBatchItem  # noqa: E402,F401  (provider batches: llm/batch/)
