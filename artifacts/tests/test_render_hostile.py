"""Issue 19, finding 6: pasted or edited artifact text cannot stall rendering.

Python-Markdown took 13 s on 10 KB of ``[``; the renderer is now cmark-gfm (linear), and
pastes and edits are refused past ARTIFACTS_MAX_TEXT_CHARS with a message. Each hostile
input below is the full 200,000-character limit; the bound is a generous 1 s of this process's CPU time (not wall
clock, so a loaded machine or a parallel run does not fail it)
(bench/markdown_render.py prints the figures before and after).
"""

import json
import time

import pytest
from django.urls import reverse

from artifacts.models import NoteArtifact
from artifacts.render import markdown_to_html

pytestmark = pytest.mark.django_db
N = 200_000
HOSTILE = {
    "brackets": "[" * N,
    "image_brackets": "![" * (N // 2),
    "link_openers": "[a](" * (N // 4),
    "stars": "*" * N,
    "star_words": "*a " * (N // 3),
    "underscores": "_" * N,
    "less_than": "<" * N,
    "nested_quotes": ">" * N + " deep",
    "nested_quote_lines": "".join(">" * i + " q\n" for i in range(600)),
    "backticks": "`" * N,
    "backtick_runs": "".join("`" * i + "x" for i in range(1, 600)),
    "nested_lists": "".join("  " * i + "- x\n" for i in range(2000)),
    "entities": "&#" * (N // 2),
    "backslashes": "\\" * N,
    "table_pipes": "a|b\n-|-\n" + "|" * N,
    "raw_nested_divs": "<div>" * (N // 5),
    "fenced_python": "```python\n" + "'''\\" * (N // 5) + "\n```\n",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_markdown_renders_fast_and_sanitised(name):
    text = HOSTILE[name]
    start = time.process_time()
    html = str(markdown_to_html(text))
    assert time.process_time() - start < 1.0
    assert "<script" not in html


def test_rendering_is_still_markdown():
    html = str(markdown_to_html("# T\n\n**b** [l](https://x.example/) ~~s~~\n\n|a|b|\n|-|-|\n|1|2|\n\n```python\nx = 1\n```\n"))
    assert "<h1>T</h1>" in html and "<strong>b</strong>" in html and "<del>s</del>" in html
    assert 'href="https://x.example/"' in html and "<td>1</td>" in html
    assert '<div class="highlight"><pre><code><span class="n">x</span>' in html


def test_text_nesting_too_deep_for_the_sanitiser_is_shown_plain():
    html = str(markdown_to_html("> " * 150 + "<script>x</script> deep"))
    assert "shown unformatted" in html and "&lt;script&gt;" in html and "<blockquote>" not in html
    assert "<blockquote>" in str(markdown_to_html("> " * 20 + "fine"))


@pytest.fixture
def waiting(owner_client, note, providers, celery_eager, run_on_commit):
    with run_on_commit():
        owner_client.post(reverse("artifacts:generate", args=[note.pk]),
                          {"artifact_type": "summary", "generation_mode": "copy_paste"})
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "waiting_manual"
    return artifact


def test_a_too_long_paste_is_refused_in_the_form_with_the_text_kept(owner_client, waiting, settings):
    settings.ARTIFACTS_MAX_TEXT_CHARS = 1000
    answer = "[" * 1001
    response = owner_client.post(reverse("artifacts:paste", args=[waiting.pk]), {"answer": answer}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "The text is 1,001 characters long; an artifact takes at most 1,000." in html and answer in html
    assert NoteArtifact.objects.get().status == "waiting_manual"


def test_a_too_long_paste_is_refused_by_the_api_and_returned(owner_client, waiting, settings):
    settings.ARTIFACTS_MAX_TEXT_CHARS = 1000
    response = owner_client.post("/api/artifacts/paste", json.dumps({"artifact_id": waiting.pk, "answer": "x" * 1001}),
                                 content_type="application/json")
    assert response.status_code == 400
    assert "at most 1,000" in response.json()["detail"] and response.json()["answer"] == "x" * 1001


def test_a_too_long_answer_is_refused_in_the_copy_paste_queue_too(owner, waiting, settings):
    from llm.calls import submit_answer

    settings.LLM_MANUAL_MAX_ANSWER_CHARS = 50
    result = submit_answer(waiting.pending_query_id, "y" * 51, "", owner)
    assert not result.ok and "The answer is 51 characters long; at most 50 are taken." in result.error


def test_a_too_long_edit_is_refused_in_the_form_and_the_api(owner_client, owner, note, settings):
    settings.ARTIFACTS_MAX_TEXT_CHARS = 1000
    v1 = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="summary", status="completed", content="v1")
    page = owner_client.post(reverse("artifacts:edit", args=[v1.pk]), {"content": "*" * 1001}).content.decode()
    assert "an artifact takes at most 1,000" in page
    api = owner_client.post(f"/api/artifacts/{v1.pk}/edit", json.dumps({"content": "*" * 1001}),
                            content_type="application/json")
    assert api.status_code == 400 and "at most 1,000" in api.content.decode()
    assert NoteArtifact.objects.count() == 1
    ok = owner_client.post(reverse("artifacts:edit", args=[v1.pk]), {"content": "*" * 1000})
    assert ok.status_code == 302 and NoteArtifact.objects.count() == 2
