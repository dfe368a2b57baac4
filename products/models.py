from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.text import slugify

_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})
MAX_NUMBER = Decimal(10) ** 15  # attribute numbers are stored in JSON; keep them sane


class Category(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = self._free_slug()
        super().save(*args, **kwargs)

    def _free_slug(self) -> str:
        # Different names can slugify alike ("Bath & Body", "Bath Body"): number the later ones.
        base = slugify(self.name)[:190] or "category"
        slug, n = base, 2
        while Category.objects.filter(slug=slug).exclude(pk=self.pk).exists():
            slug, n = f"{base}-{n}", n + 1
        return slug


class Subcategory(models.Model):
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="subcategories")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "subcategories"
        constraints = [models.UniqueConstraint(fields=["category", "name"], name="subcategory_unique_name")]

    def __str__(self) -> str:
        return f"{self.category.name} › {self.name}"


class AttributeType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes/no"
    ONE_OF = "one_of", "One of a list"
    MANY_OF = "many_of", "Several of a list"


class AttributeDefinition(models.Model):
    """One attribute the products of a subcategory carry, e.g. "Max load" (number, W)."""

    subcategory = models.ForeignKey(Subcategory, on_delete=models.CASCADE, related_name="attribute_definitions")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=AttributeType.choices, default=AttributeType.TEXT)
    unit = models.CharField(max_length=30, blank=True, help_text="For numbers, e.g. W, mm, kg.")
    allowed_values = models.JSONField(default=list, blank=True, help_text="For one-of and several-of: a list of strings.")
    required = models.BooleanField(default=False)

    class Meta:
        ordering = ["subcategory_id", "id"]
        constraints = [models.UniqueConstraint(fields=["subcategory", "name"], name="attribute_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name

    def clean(self):
        if self.type in (AttributeType.ONE_OF, AttributeType.MANY_OF):
            values = self.allowed_values
            if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
                raise ValidationError({"allowed_values": "Give a non-empty list of non-empty strings."})
            if len({v.casefold() for v in values}) != len(values):
                raise ValidationError({"allowed_values": "The allowed values must differ from each other."})
        elif self.allowed_values:
            raise ValidationError({"allowed_values": "Only one-of and several-of attributes have allowed values."})
        if self.unit and self.type != AttributeType.NUMBER:
            raise ValidationError({"unit": "Only numbers have a unit."})

    def validate_value(self, value) -> tuple[bool, object, str]:
        """Check ``value`` against this definition: ``(ok, cleaned value, error message)``.

        Lenient about form (strings for numbers and booleans, "600 W" for a number in W,
        any case for listed values), strict about meaning. A missing value is ``None``.
        """
        if value is None or value == "" or value == []:
            return (False, None, "is required") if self.required else (True, None, "")
        check = {
            AttributeType.TEXT: self._text,
            AttributeType.NUMBER: self._number,
            AttributeType.BOOLEAN: self._boolean,
            AttributeType.ONE_OF: self._one_of,
            AttributeType.MANY_OF: self._many_of,
        }.get(self.type)
        if check is None:
            return False, None, f"has an unknown type {self.type!r}"
        return check(value)

    def _text(self, value):
        if not isinstance(value, str):
            return False, None, f"must be text, not {type(value).__name__}"
        return True, value.strip(), ""

    def _number(self, value):
        if isinstance(value, bool):
            return False, None, "must be a number, not true/false"
        if isinstance(value, str):
            text = value.strip()
            if self.unit and text.casefold().endswith(self.unit.casefold()):
                text = text[: -len(self.unit)].strip()
            try:
                number = Decimal(text)
            except InvalidOperation:
                return False, None, f"must be a number{f' in {self.unit}' if self.unit else ''}, not {value!r}"
        elif isinstance(value, (int, float, Decimal)):
            number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        else:
            return False, None, f"must be a number, not {type(value).__name__}"
        if not number.is_finite():
            return False, None, "must be a finite number"
        if abs(number) >= MAX_NUMBER:
            return False, None, "is too large"
        cleaned = int(number) if number == number.to_integral_value() else float(number)
        return True, cleaned, ""

    def _boolean(self, value):
        if isinstance(value, bool):
            return True, value, ""
        if isinstance(value, int) and value in (0, 1):
            return True, bool(value), ""
        if isinstance(value, str):
            word = value.strip().casefold()
            if word in _TRUE:
                return True, True, ""
            if word in _FALSE:
                return True, False, ""
        return False, None, f"must be yes or no, not {value!r}"

    def _canonical(self, value):
        if not isinstance(value, str):
            return None
        wanted = value.strip().casefold()
        return next((allowed for allowed in self.allowed_values if allowed.casefold() == wanted), None)

    def _one_of(self, value):
        allowed = self._canonical(value)
        if allowed is None:
            return False, None, f"must be one of {', '.join(self.allowed_values)}; got {value!r}"
        return True, allowed, ""

    def _many_of(self, value):
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            return False, None, f"must be a list of values from {', '.join(self.allowed_values)}"
        cleaned, unknown = [], []
        for item in value:
            allowed = self._canonical(item)
            if allowed is None:
                unknown.append(repr(item))
            elif allowed not in cleaned:
                cleaned.append(allowed)
        if unknown:
            return False, None, f"has values not in {', '.join(self.allowed_values)}: {', '.join(unknown)}"
        if not cleaned and self.required:
            return False, None, "is required"
        return True, cleaned or None, ""

    def display(self, value) -> str:
        """``value`` (already valid) as people read it: "600 W", "Yes", "Oak, Walnut"."""
        if value is None:
            return "—"
        if self.type == AttributeType.BOOLEAN:
            return "Yes" if value else "No"
        if self.type == AttributeType.MANY_OF and isinstance(value, list):
            return ", ".join(map(str, value))
        if self.type == AttributeType.NUMBER and self.unit:
            return f"{value} {self.unit}"
        return str(value)


class ProductQuerySet(models.QuerySet):
    def search(self, q: str):
        q = (q or "").strip()
        return self.filter(title__icontains=q) if q else self


class Product(models.Model):
    class Source(models.TextChoices):
        IMPORTED = "imported", "Imported"
        GENERATED = "generated", "Generated"
        DEMO = "demo", "Demo"

    # NULL, not "", when absent: the unique constraint ignores NULLs, so products without an
    # external id never collide.
    external_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    brand = models.CharField(max_length=200, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    url = models.URLField("URL", max_length=2000, blank=True)
    # db_index=False: the (category, title) and (subcategory, title) indexes below serve both
    # the foreign keys and the filtered, title-ordered list.
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="products", db_index=False
    )
    subcategory = models.ForeignKey(
        Subcategory, on_delete=models.SET_NULL, null=True, blank=True, related_name="products", db_index=False
    )
    attributes = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.IMPORTED)
    # Filled by the generator (step 4); imported products usually have none.
    bullet_points = models.JSONField(default=list, blank=True)
    search_keywords = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["title", "id"], name="product_title_idx"),
            models.Index(fields=["category", "title"], name="product_category_title_idx"),
            models.Index(fields=["subcategory", "title"], name="product_subcat_title_idx"),
            models.Index(fields=["brand", "title"], name="product_brand_title_idx"),
            models.Index(fields=["source"], name="product_source_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("products:detail", args=[self.pk])

    def save(self, *args, **kwargs):
        if self.external_id == "":
            self.external_id = None
        super().save(*args, **kwargs)

    @property
    def link(self) -> str:
        """``url`` if it is an http(s) link a browser may follow, else ""."""
        try:
            return self.url if urlsplit(self.url).scheme.lower() in ("http", "https") else ""
        except ValueError:
            return ""

    def clean(self):
        errors = {}
        if self.subcategory_id:
            if self.category_id is None:
                self.category_id = self.subcategory.category_id
            elif self.subcategory.category_id != self.category_id:
                errors["subcategory"] = f"“{self.subcategory.name}” is not in the category of this product."
        for name in ("bullet_points", "search_keywords"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[name] = "Give a list of texts."
        if not isinstance(self.attributes, dict):
            errors["attributes"] = "Attributes must be an object of name: value pairs."
        elif self.subcategory_id:
            cleaned, problems = self.subcategory_attributes_check()
            if problems:
                errors["attributes"] = problems
            else:
                self.attributes = cleaned
        if errors:
            raise ValidationError(errors)

    def subcategory_attributes_check(self) -> tuple[dict, list[str]]:
        """Validate ``attributes`` against the subcategory's definitions: (cleaned, problems)."""
        definitions = {d.name: d for d in self.subcategory.attribute_definitions.all()}
        cleaned, problems = {}, []
        for name in self.attributes:
            if name not in definitions:
                problems.append(f"{name}: is not an attribute of {self.subcategory.name}")
        for name, definition in definitions.items():
            ok, value, error = definition.validate_value(self.attributes.get(name))
            if not ok:
                problems.append(f"{name}: {error}")
            elif value is not None:
                cleaned[name] = value
        return cleaned, problems

    def attribute_rows(self) -> list[tuple[str, str]]:
        """(name, value as text) for display, in the subcategory's definition order."""
        attributes = self.attributes if isinstance(self.attributes, dict) else {}
        rows, seen = [], set()
        if self.subcategory_id:
            for definition in self.subcategory.attribute_definitions.all():
                if definition.name in attributes:
                    rows.append((definition.name, definition.display(attributes[definition.name])))
                    seen.add(definition.name)
        for name, value in attributes.items():
            if name not in seen:
                rows.append((name, ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
        return rows


# --- Multi-step generation ---------------------------------------------------------------


class Step(models.TextChoices):
    IDENTIFY_CATEGORY = "identify_category", "Identify category"
    MAP_ATTRIBUTES = "map_attributes", "Map attributes"
    GENERATE = "generate", "Generate content"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Not run yet"
    DONE = "done", "Done"
    WAITING_MANUAL = "waiting_manual", "Waiting for a pasted answer"
    FAILED = "failed", "Failed"
    STREAMING = "streaming", "Being written on the page"  # step 4, between the attributes and the live page


CONTENT_FIELDS = ("title", "description", "bullet_points", "search_keywords")


class GenerationSessionQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(owner=user) if getattr(user, "pk", None) else self.none()


class GenerationSession(models.Model):
    """One product being generated from raw text, step by step (the wizard, or one bulk item).

    The LLM's results and the user's edits are kept apart, so re-running a step never loses an
    edit and going back to an earlier step keeps what still applies.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="product_generations")
    raw_input = models.TextField()
    provider_name = models.CharField(max_length=50, blank=True)
    model_name = models.CharField(max_length=100, blank=True)
    run_id = models.CharField(max_length=64, blank=True)
    step_status = models.JSONField(default=dict, blank=True, help_text="step → pending/done/waiting_manual/failed")
    step_errors = models.JSONField(default=dict, blank=True)
    pending_query = models.ForeignKey(
        "llm.LLMQuery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The copy/paste prompt a step waits for.",
    )
    # Step 2: the LLM's suggestion, and what the user chose.
    suggested_subcategory = models.ForeignKey(
        Subcategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suggestion_confidence = models.FloatField(null=True, blank=True)
    suggestion_reason = models.TextField(blank=True)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subcategory = models.ForeignKey(Subcategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Step 3: {"subcategory_id": id, "values": {name: {"value", "ok", "error"}}} from the LLM;
    # the user's edits by attribute name (raw form values), validated when used.
    mapped_attributes = models.JSONField(default=dict, blank=True)
    attribute_edits = models.JSONField(default=dict, blank=True)
    # Step 4: the LLM's content and the user's edits of it (same keys: CONTENT_FIELDS).
    generated_content = models.JSONField(default=dict, blank=True)
    content_edits = models.JSONField(default=dict, blank=True)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GenerationSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "created_at"], name="gensession_owner_created_idx")]

    def __str__(self) -> str:
        return f"Generation #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("products:wizard-session", args=[self.pk])

    def status_of(self, step: str) -> str:
        return (self.step_status or {}).get(step, StepStatus.PENDING)

    def set_status(self, step: str, status: str, error: str = "") -> None:
        self.step_status = {**(self.step_status or {}), step: status}
        errors = dict(self.step_errors or {})
        if error:
            errors[step] = error
        else:
            errors.pop(step, None)
        self.step_errors = errors

    @property
    def content(self) -> dict:
        """The generated content with the user's edits on top."""
        merged = {key: (self.generated_content or {}).get(key) for key in CONTENT_FIELDS}
        merged.update({k: v for k, v in (self.content_edits or {}).items() if k in CONTENT_FIELDS})
        for key in ("bullet_points", "search_keywords"):
            merged[key] = [str(v) for v in merged.get(key) or []]
        merged["title"] = merged.get("title") or ""
        merged["description"] = merged.get("description") or ""
        return merged

    def mapped_for_current_subcategory(self) -> dict:
        mapped = self.mapped_attributes or {}
        if self.subcategory_id and mapped.get("subcategory_id") == self.subcategory_id:
            return mapped.get("values") or {}
        return {}


class GenerationStepLog(models.Model):
    """One model call of one step, for the wizard's debug panel."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        REJECTED = "rejected", "Rejected and re-asked"
        FAILED = "failed", "Failed"
        WAITING_MANUAL = "waiting_manual", "Waiting for a pasted answer"

    session = models.ForeignKey(GenerationSession, on_delete=models.CASCADE, related_name="step_logs")
    step = models.CharField(max_length=20, choices=Step.choices)
    query = models.ForeignKey("llm.LLMQuery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    prompt = models.TextField(blank=True)
    raw_answer = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OK)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_step_display()} call for generation #{self.session_id}"


class BulkGenerationJobQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(owner=user) if getattr(user, "pk", None) else self.none()


class BulkGenerationJob(models.Model):
    """Many raw inputs generated as products in the background, one Celery task per item."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="product_bulk_jobs")
    name = models.CharField(max_length=200, blank=True)
    provider_name = models.CharField(max_length=50, blank=True)
    model_name = models.CharField(max_length=100, blank=True)
    delivery = models.CharField(
        max_length=12, default="interactive", db_default="interactive",
        help_text="interactive (one call at a time) or batch (each step of every item in provider batches, half price).",
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BulkGenerationJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"Bulk generation #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("products:bulk-detail", args=[self.pk])

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def percent(self) -> int:
        return int(100 * self.finished / self.total) if self.total else 100

    @property
    def batch_owner(self) -> str:
        """This job's name in llm's batch tables (llm imports no domain app)."""
        return f"products.BulkGenerationJob:{self.pk}"

    def refresh_counts(self) -> None:
        """Recount from the items (safe to call any number of times, from any worker)."""
        counts = dict(self.items.values_list("status").annotate(n=models.Count("id")))
        done = counts.get(BulkGenerationItem.Status.DONE, 0)
        failed = counts.get(BulkGenerationItem.Status.FAILED, 0) + counts.get(BulkGenerationItem.Status.NEEDS_REVIEW, 0)
        total = sum(counts.values())
        if done + failed >= total:
            status = self.Status.COMPLETED
        elif any(s != BulkGenerationItem.Status.QUEUED for s in counts):
            status = self.Status.RUNNING
        else:
            status = self.Status.QUEUED
        BulkGenerationJob.objects.filter(pk=self.pk).update(total=total, done=done, failed=failed, status=status)
        self.total, self.done, self.failed, self.status = total, done, failed, status


class BulkGenerationItem(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING_MANUAL = "waiting_manual", "Waiting for a pasted answer"
        DONE = "done", "Done"
        NEEDS_REVIEW = "needs_review", "Needs review"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(BulkGenerationJob, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    raw_input = models.TextField()
    session = models.OneToOneField(
        GenerationSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="bulk_item"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job_id", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="bulk_item_unique_position")]

    def __str__(self) -> str:
        return f"Item {self.position} of {self.job}"
