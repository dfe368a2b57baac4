"""The capture bookmarklet, run on a page of another origin, saves a note through the JSON API."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken
from conftest import login
from notes.models import Note

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTICLE = b"""<!doctype html><html><head><title>Photosynthesis</title>
<meta name="description" content="Light into chemical energy"></head>
<body><nav>menu</nav><article><h1>Light reactions</h1><p id="p">Water is split and oxygen is released.</p></article></body></html>"""


@pytest.fixture
def other_site():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(ARTICLE)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # "localhost" is another origin than the live server's 127.0.0.1.
    yield f"http://localhost:{server.server_port}/article"
    server.shutdown()
    server.server_close()


def test_the_bookmarklet_saves_a_note_from_another_site(page, owner, other_site):
    _, raw = ApiToken.issue(owner, "bookmarklet")
    login(page, "owner", "owner-pass-123")
    page.goto("/notes/")
    page.get_by_text("Capture notes from any page").click()
    page.get_by_label("API token").fill(raw)
    link = page.get_by_role("link", name="Save to notes")
    expect(link).to_be_visible()
    code = unquote(link.get_attribute("href").removeprefix("javascript:"))
    assert raw in code

    page.goto(other_site)
    page.evaluate("""() => { const r = document.createRange(); r.selectNodeContents(document.getElementById('p'));
                             getSelection().removeAllRanges(); getSelection().addRange(r); }""")
    messages = []

    def on_dialog(dialog):
        messages.append(dialog.message)
        dialog.accept("O2 comes from water." if dialog.type == "prompt" else None)

    page.on("dialog", on_dialog)
    page.evaluate(code)
    for _ in range(50):
        if len(messages) >= 2:
            break
        page.wait_for_timeout(100)
    assert messages[-1] == "Note saved.", messages
    note = Note.objects.get()
    assert note.owner == owner and note.body == "O2 comes from water."
    assert note.highlighted_text == "Water is split and oxygen is released."
    assert note.page_title == "Photosynthesis" and note.page_metadata == {"description": "Light into chemical energy"}
    assert note.page_section_html.startswith("<article>") and note.site == "localhost"
