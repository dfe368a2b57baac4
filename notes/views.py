from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.utils.translation import gettext
from django.views.decorators.clickjacking import xframe_options_deny

from config.csp import allow_diagram_styles

from .forms import NoteCreateForm, NoteForm
from .models import Note

NOTES_PER_PAGE = 25
PAGE_TEXT_LIMIT = 50_000  # characters of the page section shown on the detail page


def get_note_for_user(request, pk: int) -> Note:
    """The request user's note ``pk``; another user's note is a 404, as if it did not exist."""
    return get_object_or_404(Note.objects.for_user(request.user), pk=pk)


def note_list(request):
    q = request.GET.get("q", "").strip()
    notes = Note.objects.for_user(request.user).search(q).defer("page_section_html", "page_metadata")
    page = Paginator(notes, NOTES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "notes/list.html", {"page": page, "notes": page.object_list, "q": q})


def note_create(request):
    form = NoteCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.instance.owner = request.user
        note = form.save()
        messages.success(request, gettext("Note saved."))
        return redirect(note)
    return render(request, "notes/form.html", {"form": form, "note": None})


@allow_diagram_styles  # the note page draws its diagram artifacts
def note_detail(request, pk: int):
    note = get_note_for_user(request, pk)
    page_text, page_text_cut = note.page_section_text(limit=PAGE_TEXT_LIMIT)
    return render(
        request,
        "notes/detail.html",
        {
            "note": note,
            "page_text": page_text,
            "page_text_cut": page_text_cut,
            "page_text_limit": PAGE_TEXT_LIMIT,
            "page_parse_cut": note.page_section_parse_cut,
            "page_html_chars": len(note.page_section_html),
            "page_parse_limit": settings.NOTES_SECTION_PARSE_MAX_CHARS,
            "related_notes": note.related_notes()[:20],
        },
    )


def note_edit(request, pk: int):
    note = get_note_for_user(request, pk)
    form = NoteForm(request.POST or None, instance=note)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, gettext("Note updated."))
        return redirect(note)
    return render(request, "notes/form.html", {"form": form, "note": note})


def note_delete(request, pk: int):
    note = get_note_for_user(request, pk)
    if request.method == "POST":
        note.delete()
        messages.success(request, gettext("Note deleted."))
        return redirect("notes:list")
    return render(request, "notes/confirm_delete.html", {"note": note})


@login_not_required
@xframe_options_deny
def capture_popup(request):
    """The capture window the bookmarklet opens on our origin (the way bookmarking services do).

    The visited page never holds a credential: it opens this window with the address, title and
    selection in the query string and hands the section HTML and metadata over by postMessage
    (static/notes/capture-popup.js). This page saves through POST /api/notes/ with the session
    and CSRF token. It opens without login so the hand-over can happen first; the data waits in
    this window's sessionStorage while the user logs in, and saving needs the login.
    """
    response = render(request, "notes/capture_popup.html", {
        "page_url": request.GET.get("url", "")[:2000],
        "page_title": request.GET.get("title", "")[:500],
        "selection": request.GET.get("selection", "")[:20_000],
        "login_url": f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}",
    })
    # Django's default COOP (same-origin) would cut this window off from the page that opened it,
    # and with it the postMessage hand-over. Nothing here is secret before login.
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return response
