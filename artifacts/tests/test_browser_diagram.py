"""A Mermaid diagram from the model is drawn as SVG, and a hostile one stays inert."""

import pytest
from playwright.sync_api import expect

from artifacts.models import NoteArtifact
from conftest import login


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_diagram_artifact_is_drawn_and_script_in_it_never_runs(page, owner, note):
    NoteArtifact.objects.create(
        note=note, owner=owner, artifact_type="diagram", status="completed", provider="gemini", model="gemini-2.0-flash",
        content='graph TD\n  A[Create task] --> B[Keep a reference]\n  B --> C["<img src=x onerror=window.pwned=1>"]',
    )
    login(page, "owner", "owner-pass-123")
    page.goto(f"/notes/{note.pk}/")
    diagram = page.locator("pre.mermaid svg").first
    expect(diagram).to_be_visible(timeout=15_000)
    expect(page.locator("pre.mermaid").first).to_contain_text("Keep a reference")
    assert page.evaluate("window.pwned") is None
