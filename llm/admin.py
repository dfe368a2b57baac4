import json

from django.contrib import admin, messages
from django.utils.html import format_html

from .records import interactions
from .errors import LLMError
from .models import (
    Budget,
    BudgetUsage,
    GeneratedImage,
    LLMCacheEntry,
    LLMJob,
    LLMModel,
    LLMProvider,
    LLMQuery,
    ManualInteraction,
    PromptOverride,
    UserPromptTemplate,
)
from .providers import client_for


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, default=str))


class LLMModelInline(admin.TabularInline):
    model = LLMModel
    extra = 0
    fields = ("name", "context_window", "max_output_tokens", "input_price_per_1m", "cached_input_price_per_1m",
              "cache_write_price_per_1m", "cache_write_1h_price_per_1m", "output_price_per_1m", "tiers", "price_source",
              "retired", "enabled")
    readonly_fields = ("price_source",)
    show_change_link = True


@admin.register(LLMProvider)
class LLMProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "display_name", "kind", "enabled", "configured", "default_model", "base_url")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "display_name")
    inlines = [LLMModelInline]
    actions = ["test_connection"]

    @admin.display(boolean=True)
    def configured(self, obj):
        return obj.is_configured

    @admin.action(description="Test connection")
    def test_connection(self, request, queryset):
        for provider in queryset:
            problem = provider.configuration_problem()
            if problem:
                self.message_user(request, problem, messages.ERROR)
                continue
            try:
                self.message_user(request, client_for(provider).ping(), messages.SUCCESS)
            except LLMError as exc:
                self.message_user(request, f"{provider.name}: {exc}", messages.ERROR)


class PriceKnownFilter(admin.SimpleListFilter):
    title = "price"
    parameter_name = "price"

    def lookups(self, request, model_admin):
        return [("unknown", "Price unknown"), ("known", "Price known")]

    def queryset(self, request, queryset):
        unknown = LLMModel.objects.price_unknown().filter(image_prices={})
        if self.value() == "unknown":
            return queryset.filter(pk__in=unknown)
        if self.value() == "known":
            return queryset.exclude(pk__in=unknown)
        return queryset


class RequestIdFilter(admin.SimpleListFilter):
    """``?request_id=<id>``: every call of one user action (exact, indexed). In the sidebar only while in use."""

    title = "request id"
    parameter_name = "request_id"

    def lookups(self, request, model_admin):
        # Django applies only filters that have choices: the id being filtered on is the one choice.
        return [(self.value(), self.value())] if self.value() else []

    def queryset(self, request, queryset):
        return queryset.filter(request_id=self.value()) if self.value() else queryset


@admin.register(LLMModel)
class LLMModelAdmin(admin.ModelAdmin):
    list_display = ("name", "provider", "price_flag", "input_price_per_1m", "cached_input_price_per_1m",
                    "cache_write_price_per_1m", "cache_write_1h_price_per_1m", "output_price_per_1m", "tier_summary",
                    "context_window", "max_output_tokens", "rpm_limit", "tpm_limit", "max_concurrent", "price_source",
                    "owner", "retired", "enabled")
    list_filter = (PriceKnownFilter, "provider", "price_source", ("owner", admin.EmptyFieldListFilter), "retired",
                   "supports_vision", "supports_image_generation", "enabled")
    search_fields = ("name", "display_name")
    readonly_fields = ("prices_as_of",)
    raw_id_fields = ("owner",)

    @admin.display(description="Price known", boolean=True)
    def price_flag(self, obj):
        return obj.price_known

    @admin.display(description="Long-context tiers")
    def tier_summary(self, obj):
        return "; ".join(t.label for t in obj.tier_rows) or "—"

    def save_model(self, request, obj, form, change):
        price_fields = {"input_price_per_1m", "cached_input_price_per_1m", "cache_write_price_per_1m",
                        "cache_write_1h_price_per_1m", "output_price_per_1m", "tiers", "image_prices"}
        if price_fields & set(form.changed_data):
            obj.price_source = LLMModel.PriceSource.ADMIN  # never overwritten by sync-prices
        super().save_model(request, obj, form, change)


@admin.register(LLMQuery)
class LLMQueryAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "purpose", "provider_name", "model_name", "status", "attempt", "input_tokens",
                    "output_tokens", "cost_usd", "latency_ms", "user")
    list_filter = ("status", "provider_name", "model_name", "purpose", "created_at", RequestIdFilter)
    date_hierarchy = "created_at"
    search_fields = ("purpose", "run_id", "request_id", "cache_key", "error", "model_name")
    list_select_related = ("user",)
    show_full_result_count = False
    readonly_fields = [f.name for f in LLMQuery._meta.fields if f.name != "params"] + ["params_pretty", "interaction_file"]
    exclude = ("params",)

    def has_add_permission(self, request):
        return False

    @admin.display(description="Params")
    def params_pretty(self, obj):
        return _pretty(obj.params)

    @admin.display(description="Interaction file")
    def interaction_file(self, obj):
        if not obj.file_path:
            return "—"
        try:
            data = json.loads(interactions.read(obj.file_path))
        except (OSError, ValueError) as exc:
            return f"Could not read {obj.file_path}: {exc}"
        ok = interactions.verify(obj.file_path, obj.file_sha256)
        return format_html("<p>{} — checksum {}</p>{}", obj.file_path, "matches" if ok else "DOES NOT MATCH", _pretty(data))


@admin.register(ManualInteraction)
class ManualInteractionAdmin(admin.ModelAdmin):
    list_display = ("query", "created_at", "answered_at", "answered_model_name", "paste_attempts")
    list_filter = ("answered_at",)
    raw_id_fields = ("query", "answered_by")


@admin.register(LLMJob)
class LLMJobAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "provider", "model_name", "status", "created_at")
    list_filter = ("status", "provider")
    raw_id_fields = ("query", "pending_query", "user")


class BudgetUsageInline(admin.TabularInline):
    model = BudgetUsage
    extra = 0
    readonly_fields = ("period_start", "spent_usd", "reserved_usd")
    can_delete = False


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "period", "limit_usd", "enabled", "spent_this_period")
    list_filter = ("period", "enabled")
    raw_id_fields = ("user",)
    inlines = [BudgetUsageInline]

    @admin.display(description="Spent this period")
    def spent_this_period(self, obj):
        from .calls.budgets import period_start

        row = obj.usage.filter(period_start=period_start(obj.period)).first()
        return f"${row.spent_usd:.4f}" if row else "$0"


@admin.register(LLMCacheEntry)
class LLMCacheEntryAdmin(admin.ModelAdmin):
    list_display = ("key", "provider_name", "model_name", "purpose", "hits", "cost_usd", "created_at", "expires_at")
    list_filter = ("provider_name", "model_name")
    search_fields = ("key", "purpose")
    readonly_fields = [f.name for f in LLMCacheEntry._meta.fields]


@admin.register(PromptOverride)
class PromptOverrideAdmin(admin.ModelAdmin):
    list_display = ("name", "template_version", "revision", "active", "note", "created_by", "created_at")
    list_filter = ("name", "active")
    readonly_fields = ("revision", "created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if change:
            # Editing makes a new revision; the old one stays as history.
            PromptOverride.objects.filter(pk=obj.pk).update(active=False)
            obj.pk = None
            obj._state.adding = True
        obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(UserPromptTemplate)
class UserPromptTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "updated_at")
    search_fields = ("name", "owner__username")


@admin.register(GeneratedImage)
class GeneratedImageAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "provider", "model_name", "size", "status", "cost_usd", "created_at")
    list_filter = ("status", "model_name")
    raw_id_fields = ("user", "query")
