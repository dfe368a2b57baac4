from django.contrib import admin
from django.db import models

from .models import AttributeDefinition, Category, Product, Subcategory


class SubcategoryInline(admin.TabularInline):
    model = Subcategory
    extra = 0
    fields = ("name", "description")
    show_change_link = True


class AttributeDefinitionInline(admin.TabularInline):
    model = AttributeDefinition
    extra = 0
    fields = ("name", "type", "unit", "allowed_values", "required")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "description")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [SubcategoryInline]


@admin.register(Subcategory)
class SubcategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "category")
    list_filter = ("category",)
    list_select_related = ("category",)
    search_fields = ("name", "category__name")
    autocomplete_fields = ("category",)
    inlines = [AttributeDefinitionInline]


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(admin.ModelAdmin):
    list_display = ("name", "subcategory", "type", "unit", "required")
    list_filter = ("type", "required", "subcategory__category")
    list_select_related = ("subcategory__category",)
    search_fields = ("name", "subcategory__name", "subcategory__category__name")
    autocomplete_fields = ("subcategory",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("title", "brand", "price", "category", "subcategory", "source", "updated_at")
    list_filter = ("source", "category")
    list_select_related = ("category", "subcategory__category")
    search_fields = ("title", "brand", "=external_id")
    autocomplete_fields = ("category", "subcategory")
    readonly_fields = ("created_at", "updated_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    # Counting a large catalog twice per page is slow; one count is enough.
    show_full_result_count = False


from .models import BulkGenerationItem, BulkGenerationJob, GenerationSession, GenerationStepLog  # noqa: E402


class GenerationStepLogInline(admin.TabularInline):
    model = GenerationStepLog
    extra = 0
    fields = ("step", "status", "query", "input_tokens", "output_tokens", "cost_usd", "latency_ms", "error")
    readonly_fields = fields
    can_delete = False
    show_change_link = False


@admin.register(GenerationSession)
class GenerationSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "subcategory", "product", "created_at")
    list_select_related = ("owner", "subcategory", "product")
    search_fields = ("raw_input", "owner__username")
    raw_id_fields = ("owner", "pending_query", "suggested_subcategory", "category", "subcategory", "product")
    inlines = [GenerationStepLogInline]


class BulkGenerationItemInline(admin.TabularInline):
    model = BulkGenerationItem
    extra = 0
    fields = ("position", "status", "session", "error")
    readonly_fields = fields
    can_delete = False


@admin.register(BulkGenerationJob)
class BulkGenerationJobAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "name", "status", "done", "failed", "total", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("owner",)
    inlines = [BulkGenerationItemInline]
