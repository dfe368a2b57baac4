import pytest
from django.urls import reverse

from notes.models import Note

pytestmark = pytest.mark.django_db


def test_the_artifacts_page_lists_only_my_notes(owner_client, owner, outsider):
    mine = Note.objects.create(owner=owner, page_title="My asyncio note", body="x")
    Note.objects.create(owner=outsider, page_title="Their secret note", body="x")
    html = owner_client.get(reverse("artifacts:index")).content.decode()
    assert "My asyncio note" in html
    assert reverse("notes:detail", args=[mine.pk]) in html
    assert "Their secret note" not in html


@pytest.mark.parametrize("name", ["segmentation:index", "codegen:index"])
def test_the_planned_apps_have_an_index_page(owner_client, name):
    assert owner_client.get(reverse(name)).status_code == 200
