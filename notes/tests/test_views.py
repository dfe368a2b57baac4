import time

import pytest
from django.urls import reverse

from notes.models import Note

pytestmark = pytest.mark.django_db

XSS_HTML = (
    "<p>Intro paragraph.</p><script>alert(1)</script>"
    "<p>Look <img src=x onerror=alert(1)> here &lt;script&gt;alert(2)&lt;/script&gt;</p>"
)


@pytest.fixture
def note(owner):
    return Note.objects.create(
        owner=owner,
        page_url="https://developer.mozilla.org/en-US/docs/Web/HTTP/Caching",
        page_title="HTTP caching",
        highlighted_text="no-cache means revalidate",
        body="Use ETags.",
        page_section_html="<p>Caching section</p>",
    )


def test_it_sends_anonymous_visitors_to_the_login_page(client, note):
    response = client.get(reverse("notes:detail", args=[note.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_creates_a_note_for_the_logged_in_user(owner_client, owner):
    response = owner_client.post(
        reverse("notes:create"),
        {
            "page_url": "https://en.wikipedia.org/wiki/French_Revolution",
            "page_title": "French Revolution",
            "highlighted_text": "Tennis Court Oath",
            "body": "Sovereignty moved to the nation.",
            "page_section_html": "<p>The Estates-General…</p>",
        },
    )
    note = Note.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("notes:detail", args=[note.pk])
    assert note.owner == owner
    assert note.site == "en.wikipedia.org"
    assert note.page_section_html == "<p>The Estates-General…</p>"


def test_it_shows_errors_next_to_the_fields(owner_client):
    response = owner_client.post(reverse("notes:create"), {"page_url": "not a url", "body": ""})
    assert response.status_code == 200
    assert Note.objects.count() == 0
    html = response.content.decode()
    assert 'id="id_page_url_error"' in html
    assert "Write a note or paste the highlighted text." in html
    assert 'aria-invalid="true"' in html


def test_it_lists_and_shows_the_users_note(owner_client, note):
    listing = owner_client.get(reverse("notes:list"))
    assert listing.status_code == 200
    assert "HTTP caching" in listing.content.decode()
    detail = owner_client.get(reverse("notes:detail", args=[note.pk]))
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "Use ETags." in body
    assert "Caching section" in body


def test_it_edits_a_note_and_keeps_the_captured_page_section(owner_client, note):
    response = owner_client.post(
        reverse("notes:edit", args=[note.pk]),
        {"page_url": note.page_url, "page_title": "HTTP caching (MDN)", "highlighted_text": "", "body": "Use ETags and no-cache."},
    )
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.page_title == "HTTP caching (MDN)"
    assert note.body == "Use ETags and no-cache."
    assert note.page_section_html == "<p>Caching section</p>"


def test_it_asks_before_deleting_and_deletes_on_post(owner_client, note):
    confirm = owner_client.get(reverse("notes:delete", args=[note.pk]))
    assert confirm.status_code == 200
    assert Note.objects.filter(pk=note.pk).exists()
    response = owner_client.post(reverse("notes:delete", args=[note.pk]))
    assert response.status_code == 302
    assert response.url == reverse("notes:list")
    assert not Note.objects.filter(pk=note.pk).exists()


@pytest.mark.parametrize("name, method", [("detail", "get"), ("edit", "get"), ("edit", "post"), ("delete", "get"), ("delete", "post")])
def test_it_hides_other_users_notes(client, outsider, note, name, method):
    client.force_login(outsider)
    response = getattr(client, method)(reverse(f"notes:{name}", args=[note.pk]), {"body": "hijacked"} if method == "post" else None)
    assert response.status_code == 404
    note.refresh_from_db()
    assert note.body == "Use ETags."


def test_the_list_hides_other_users_notes(client, outsider, note):
    client.force_login(outsider)
    assert "HTTP caching" not in client.get(reverse("notes:list")).content.decode()


def test_it_searches_notes(owner_client, owner, note):
    Note.objects.create(owner=owner, page_title="Photosynthesis", body="Light reactions")
    response = owner_client.get(reverse("notes:list"), {"q": "etag"})
    html = response.content.decode()
    assert "HTTP caching" in html
    assert "Photosynthesis" not in html
    assert list(response.context["notes"]) == [note]


def test_it_paginates_the_list_and_keeps_the_search(owner_client, owner):
    Note.objects.bulk_create([Note(owner=owner, page_title=f"Asyncio note {i}", body="b") for i in range(30)])
    first = owner_client.get(reverse("notes:list"), {"q": "asyncio"})
    assert len(first.context["notes"]) == 25
    assert "?q=asyncio&amp;page=2" in first.content.decode()
    second = owner_client.get(reverse("notes:list"), {"q": "asyncio", "page": 2})
    assert len(second.context["notes"]) == 5


def test_it_shows_page_html_as_inert_text(owner_client, owner):
    note = Note.objects.create(owner=owner, body="xss test", page_section_html=XSS_HTML, page_metadata={"x": "<script>alert(3)</script>"})
    html = owner_client.get(reverse("notes:detail", args=[note.pk])).content.decode()
    assert "<script>alert" not in html
    assert "onerror=" not in html
    assert "<img src=x" not in html
    assert "Intro paragraph." in html
    # Text that spelled out a tag is shown, escaped.
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html


def test_the_edit_form_does_not_render_stored_html(owner_client, owner):
    note = Note.objects.create(
        owner=owner, page_title="</title><script>alert(1)</script>", body="</textarea><script>alert(1)</script>",
        page_section_html=XSS_HTML,
    )
    html = owner_client.get(reverse("notes:edit", args=[note.pk])).content.decode()
    assert "<script>alert" not in html
    assert "onerror=" not in html


def test_it_stores_a_10_mb_page_section_and_renders_the_detail_page(owner_client, owner):
    paragraph = "<p>" + "Photosynthesis converts light into chemical energy. " * 20 + "</p>\n"
    big = paragraph * (10 * 1024 * 1024 // len(paragraph) + 1)
    assert len(big) >= 10 * 1024 * 1024
    note = Note.objects.create(owner=owner, body="big page", page_section_html=big)
    note.refresh_from_db()
    assert len(note.page_section_html) == len(big)

    started = time.monotonic()
    response = owner_client.get(reverse("notes:detail", args=[note.pk]))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert "Showing the first 50000 characters." in response.content.decode()
    assert elapsed < 5, f"the detail page took {elapsed:.1f}s"
    assert owner_client.get(reverse("notes:list")).status_code == 200
