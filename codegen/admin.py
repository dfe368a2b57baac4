from django.contrib import admin

from .models import CodegenRun, CodegenStep, GeneratedFile


class StepInline(admin.TabularInline):
    model = CodegenStep
    extra = 0
    fields = ("key", "title", "status", "max_tokens", "attempts", "input_tokens", "output_tokens", "cost_usd", "error")
    readonly_fields = fields
    can_delete = False


@admin.register(CodegenRun)
class CodegenRunAdmin(admin.ModelAdmin):
    list_display = ("run_id", "name", "owner", "status", "failing_step", "total_tokens", "total_cost_usd", "created_at")
    list_filter = ("status",)
    search_fields = ("run_id", "name", "owner__username")
    readonly_fields = ("run_id", "log", "created_at", "updated_at")
    inlines = [StepInline]


@admin.register(GeneratedFile)
class GeneratedFileAdmin(admin.ModelAdmin):
    list_display = ("path", "run", "step", "check_status")
    list_filter = ("check_status",)
    search_fields = ("path", "run__run_id")
    raw_id_fields = ("run", "step")
