from django.contrib import admin

from .models import Case, CaseResult, Dataset, Experiment, Score, Variant


class CaseInline(admin.TabularInline):
    model = Case
    extra = 0
    fields = ("key", "input", "expected", "tags", "source")
    show_change_link = True


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "suite", "owner", "created_at")
    search_fields = ("name", "suite")
    inlines = [CaseInline]


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("key", "dataset", "source", "created_at")
    list_filter = ("dataset",)
    search_fields = ("key", "source")
    raw_id_fields = ("source_query", "created_by")


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("__str__", "suite", "dataset", "status", "trigger", "created_at")
    list_filter = ("suite", "status")
    inlines = [VariantInline]
    raw_id_fields = ("owner",)


@admin.register(CaseResult)
class CaseResultAdmin(admin.ModelAdmin):
    list_display = ("id", "variant", "case", "status", "score", "error_kind", "cost_usd", "latency_ms")
    list_filter = ("status", "error_kind")
    raw_id_fields = ("variant", "case", "pending_query")


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ("scorer", "value", "source", "subject", "query", "result", "created_at")
    list_filter = ("source", "scorer")
    raw_id_fields = ("result", "query", "user")
