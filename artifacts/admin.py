from django.contrib import admin

from .models import BatchRun, NoteArtifact, OtherArtifactRequest, UserApiKey, Webhook, WebhookDelivery


@admin.register(NoteArtifact)
class NoteArtifactAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "artifact_type", "generation_mode", "status", "provider", "model", "cost_usd", "created_at")
    list_filter = ("artifact_type", "generation_mode", "status", "provider")
    search_fields = ("owner__username", "note__page_title", "user_description")
    raw_id_fields = ("note", "owner", "query", "pending_query", "parent", "user_key", "batch")
    readonly_fields = ("created_at", "updated_at", "finished_at")
    list_select_related = ("owner", "note")


@admin.register(OtherArtifactRequest)
class OtherArtifactRequestAdmin(admin.ModelAdmin):
    list_display = ("description", "user", "created_at")
    search_fields = ("description",)
    raw_id_fields = ("user", "note", "artifact")


@admin.register(UserApiKey)
class UserApiKeyAdmin(admin.ModelAdmin):
    # The key itself (even encrypted) is never shown or editable here: users manage their own keys.
    list_display = ("user", "provider", "masked", "calls", "input_tokens", "output_tokens", "cost_usd", "last_used_at")
    fields = ("user", "provider", "calls", "input_tokens", "output_tokens", "cost_usd", "last_used_at")
    readonly_fields = fields
    search_fields = ("user__username", "provider")

    def has_add_permission(self, request):
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("url", "user", "active", "created_at")
    exclude = ("secret",)
    raw_id_fields = ("user",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("webhook", "artifact", "event", "status", "attempts", "response_status", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("webhook", "artifact")


@admin.register(BatchRun)
class BatchRunAdmin(admin.ModelAdmin):
    list_display = ("pk", "user", "artifact_type", "generation_mode", "created_at")
    raw_id_fields = ("user",)
