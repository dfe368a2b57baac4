from django.core.paginator import Paginator
from django.shortcuts import render

from notes.models import Note


def index(request):
    notes = Note.objects.for_user(request.user).only("pk", "page_title", "body", "highlighted_text", "site", "updated_at")
    page = Paginator(notes, 50).get_page(request.GET.get("page"))
    return render(request, "artifacts/index.html", {"page": page, "notes": page.object_list})
