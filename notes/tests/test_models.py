import pytest

from notes.models import Note

pytestmark = pytest.mark.django_db


def test_it_derives_the_site_from_the_page_url(owner):
    note = Note.objects.create(owner=owner, page_url="https://en.wikipedia.org/wiki/Photosynthesis", body="x")
    assert note.site == "en.wikipedia.org"


def test_it_keeps_a_site_given_explicitly(owner):
    note = Note.objects.create(owner=owner, page_url="https://a.example/x", site="Example", body="x")
    assert note.site == "Example"


def test_for_user_hides_other_users_notes(owner, outsider):
    mine = Note.objects.create(owner=owner, body="mine")
    Note.objects.create(owner=outsider, body="theirs")
    assert list(Note.objects.for_user(owner)) == [mine]


@pytest.mark.parametrize(
    "field, value",
    [("page_title", "Rust Ownership"), ("body", "about OWNERSHIP"), ("highlighted_text", "ownership rules"), ("site", "ownership.dev")],
)
def test_search_matches_title_body_highlight_and_site(owner, field, value):
    match = Note.objects.create(owner=owner, **{"body": "x", field: value})
    Note.objects.create(owner=owner, body="unrelated")
    assert list(Note.objects.for_user(owner).search("ownership")) == [match]


def test_related_notes_are_the_owners_other_notes_on_the_same_page(owner, outsider):
    url = "https://docs.python.org/3/library/asyncio-task.html"
    first = Note.objects.create(owner=owner, page_url=url, body="one")
    second = Note.objects.create(owner=owner, page_url=url, body="two")
    Note.objects.create(owner=owner, page_url="https://docs.python.org/3/", body="other page")
    Note.objects.create(owner=outsider, page_url=url, body="someone else's")
    assert list(first.related_notes()) == [second]


def test_only_http_links_are_offered(owner):
    assert Note(owner=owner, page_url="javascript:alert(1)").page_link == ""
    assert Note(owner=owner, page_url="https://ok.example/").page_link == "https://ok.example/"
