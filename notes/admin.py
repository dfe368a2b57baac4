from django.contrib import admin
from django.db.models.functions import Length

from .models import Note


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "site", "updated_at")
    list_filter = ("site",)
    search_fields = ("page_title", "body", "highlighted_text", "site", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    # The captured HTML can be megabytes: a textarea holding it would be too big to post back.
    exclude = ("page_section_html",)
    readonly_fields = ("page_section_length", "created_at", "updated_at")
    date_hierarchy = "updated_at"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("page_section_html").annotate(_html_length=Length("page_section_html"))

    @admin.display(description="page section HTML (characters)")
    def page_section_length(self, note: Note) -> int:
        return getattr(note, "_html_length", None) or 0
