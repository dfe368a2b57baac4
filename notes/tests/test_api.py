"""POST/GET /api/notes/: capture from a bookmarklet or extension with a Bearer token."""

import json

import pytest

from accounts.models import ApiToken
from notes.models import Note

pytestmark = pytest.mark.django_db

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def token(owner):
    _, raw = ApiToken.issue(owner, "bookmarklet")
    return raw


def post_note(client, data, token=None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post("/api/notes/", data=json.dumps(data) if not isinstance(data, (bytes, str)) else data,
                       content_type="application/json", **headers, **extra)


def test_a_token_creates_a_note_for_its_owner(client, owner, token):
    response = post_note(client, {
        "page_url": "https://en.wikipedia.org/wiki/Photosynthesis", "page_title": "Photosynthesis",
        "page_metadata": {"lang": "en"}, "page_section_html": "<p>Light reactions</p>",
        "highlighted_text": "photolysis releases oxygen", "body": "O2 comes from water.",
    }, token)
    assert response.status_code == 201, response.content
    note = Note.objects.get()
    assert note.owner == owner and note.site == "en.wikipedia.org" and note.page_metadata == {"lang": "en"}
    assert response.json()["id"] == note.pk and response.json()["url"] == f"/notes/{note.pk}/"
    assert response.json()["page_section_chars"] == len("<p>Light reactions</p>")


def test_a_10_mb_page_section_is_accepted(client, owner, token):
    big = "<p>" + "x" * 1000 + "</p>\n"
    html = big * (TEN_MB // len(big) + 1)
    response = post_note(client, {"page_section_html": html, "highlighted_text": "x", "body": "big"}, token)
    assert response.status_code == 201, response.content[:300]
    assert len(Note.objects.get().page_section_html) == len(html) >= TEN_MB


def test_it_refuses_bodies_over_its_cap(client, token, settings):
    settings.NOTES_API_MAX_BODY = 1000
    response = post_note(client, {"body": "x" * 2000}, token)
    assert response.status_code == 413 and not Note.objects.exists()


@pytest.mark.parametrize("data, status", [
    ("not json", 400), ("[1, 2]", 400), ({"page_url": "javascript:alert(1)", "body": "x"}, 422), ({"page_title": "empty"}, 422),
])
def test_it_rejects_bad_input_with_a_reason(client, token, data, status):
    response = post_note(client, data, token)
    assert response.status_code == status and response.json()["detail"]
    assert not Note.objects.exists()


def test_it_needs_authentication(client):
    assert post_note(client, {"body": "x"}).status_code == 401
    assert post_note(client, {"body": "x"}, "llmp_wrong").status_code == 401


def test_list_and_detail_are_owner_only(client, owner, outsider, token):
    mine = Note.objects.create(owner=owner, page_title="Mine", body="b", page_section_html="<p>s</p>")
    theirs = Note.objects.create(owner=outsider, page_title="Theirs", body="b")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    listing = client.get("/api/notes/", **headers).json()
    assert [n["id"] for n in listing] == [mine.pk] and "page_section_html" not in listing[0]
    assert listing[0]["page_section_chars"] == len("<p>s</p>")
    assert client.get(f"/api/notes/{mine.pk}", **headers).json()["page_section_html"] == "<p>s</p>"
    assert client.get(f"/api/notes/{theirs.pk}", **headers).status_code == 404
    assert [n["id"] for n in client.get("/api/notes/?q=min", **headers).json()] == [mine.pk]


def test_the_bookmarklet_may_post_from_another_origin_with_a_token(client, token):
    preflight = client.options("/api/notes/", HTTP_ORIGIN="https://en.wikipedia.org",
                               HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                               HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "authorization" in preflight["Access-Control-Allow-Headers"].lower()
    response = post_note(client, {"body": "from wikipedia"}, token, HTTP_ORIGIN="https://en.wikipedia.org")
    assert response.status_code == 201 and response["Access-Control-Allow-Origin"] == "*"


def test_the_notes_page_offers_the_bookmarklet_without_asking_for_a_token(owner_client):
    # Changed with issue 19: the bookmarklet holds no token (it opens /notes/capture/popup/).
    html = owner_client.get("/notes/").content.decode()
    assert "notes/bookmarklet.js" in html and 'id="bookmarklet-link"' in html and 'id="bookmarklet-token"' not in html


def test_the_capture_popup_opens_without_login_and_keeps_its_opener(client):
    response = client.get("/notes/capture/popup/", {"url": "https://example.com/a", "title": "<b>T</b>", "selection": "s"})
    assert response.status_code == 200
    html = response.content.decode()
    assert response["Cross-Origin-Opener-Policy"] == "unsafe-none" and response["X-Frame-Options"] == "DENY"
    assert "&lt;b&gt;T&lt;/b&gt;" in html and "<b>T</b>" not in html
    assert "/login/?next=%2Fnotes%2Fcapture%2Fpopup%2F%3Furl%3D" in html and "capture-form" not in html


def test_the_capture_popup_saves_with_the_session_and_csrf_token(owner, settings):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    page = browser.get("/notes/capture/popup/", {"url": "https://example.com/a"})
    assert 'id="capture-form"' in page.content.decode()
    payload = {"page_url": "https://example.com/a", "body": "hi"}
    assert browser.post("/api/notes/", data=payload, content_type="application/json").status_code == 403
    token = page.cookies["csrftoken"].value
    saved = browser.post("/api/notes/", data=payload, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert saved.status_code == 201
