"""LLM output is untrusted: Markdown is rendered, then sanitised, so nothing in it can run."""

import re

import pytest
from django.urls import reverse

from artifacts.models import NoteArtifact
from artifacts.render import markdown_to_html

pytestmark = pytest.mark.django_db

EVIL = (
    "# Title\n\nHello <script>alert(1)</script> world.\n\n"
    '<img src=x onerror="alert(2)">\n\n'
    "[click](javascript:alert(3)) and [ok](https://example.com/page)\n\n"
    '<a href="data:text/html,<script>alert(4)</script>">data</a> <div onclick="alert(5)">div</div>\n\n'
    "<style>body{display:none}</style><iframe src=https://evil.example></iframe>\n\n"
    "```python\nprint('<script>')\n```\n"
)


def test_markdown_is_rendered_and_script_is_inert():
    html = str(markdown_to_html(EVIL))
    assert "<h1>Title</h1>" in html
    assert "<script" not in html and "onerror" not in html and "onclick" not in html
    assert "javascript:" not in html and "data:text/html" not in html
    assert "<style" not in html and "<iframe" not in html and "<img" not in html
    assert 'href="https://example.com/page"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "&lt;script&gt;" in html  # the code sample is shown as text
    assert 'class="highlight"' in html  # highlighted by Pygments


@pytest.mark.parametrize("artifact_type, content, structured", [
    ("summary", EVIL, None),
    ("code_example", EVIL, None),
    ("diagram", "graph TD; A[<script>alert(1)</script>] --> B[<img src=x onerror=alert(2)>]", None),
    ("image", "<script>alert(1)</script> a cat", None),
    ("flashcards", "{}", {"cards": [{"front": "<script>alert(1)</script>", "back": "<img src=x onerror=alert(2)>"}]}),
    ("quiz", "{}", {"questions": [{"question": "<script>alert(1)</script>", "choices": ["<img src=x onerror=alert(2)>", "b"],
                                   "answer_index": 0, "explanation": "<script>x</script>"}]}),
])
def test_pages_show_llm_output_inert(owner_client, owner, note, artifact_type, content, structured):
    artifact = NoteArtifact.objects.create(note=note, owner=owner, artifact_type=artifact_type, status="completed",
                                           content=content, structured_content=structured)
    for url in (reverse("notes:detail", args=[note.pk]), reverse("artifacts:detail", args=[artifact.pk]),
                reverse("artifacts:status", args=[artifact.pk])):
        html = owner_client.get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert not re.search(r"<[^>]*\son\w+=", html), "an event handler attribute in a tag"
        assert "javascript:" not in html


def test_flashcards_and_quiz_are_interactive(owner_client, owner, note):
    from .conftest import FLASHCARDS, QUIZ

    NoteArtifact.objects.create(note=note, owner=owner, artifact_type="flashcards", status="completed", content="{}",
                                structured_content=FLASHCARDS)
    NoteArtifact.objects.create(note=note, owner=owner, artifact_type="quiz", status="completed", content="{}",
                                structured_content=QUIZ)
    html = owner_client.get(reverse("notes:detail", args=[note.pk])).content.decode()
    assert '<details class="flashcard"><summary>What keeps a task alive?</summary>' in html
    assert 'data-answer="1"' in html and "data-check-quiz" in html
    assert "artifacts/artifacts.js" in html


def test_a_diagram_is_mermaid_source_and_an_image_shows_its_prompt(owner_client, owner, note):
    NoteArtifact.objects.create(note=note, owner=owner, artifact_type="diagram", status="completed", content="graph TD; A-->B")
    NoteArtifact.objects.create(note=note, owner=owner, artifact_type="image", status="completed", content="A cat reading docs")
    html = owner_client.get(reverse("notes:detail", args=[note.pk])).content.decode()
    assert '<pre class="mermaid">graph TD; A--&gt;B</pre>' in html
    assert "Image prompt:" in html and "A cat reading docs" in html
