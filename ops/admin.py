from django.contrib import admin

from .models import WatchdogRecord


@admin.register(WatchdogRecord)
class WatchdogRecordAdmin(admin.ModelAdmin):
    list_display = ["kind", "object_id", "resumes", "last_resumed_at", "failed_at"]
    list_filter = ["kind"]
    search_fields = ["=object_id"]
    readonly_fields = ["kind", "object_id", "resumes", "last_resumed_at", "failed_at", "reason", "created_at"]
