"""The capture bookmarklet, run on a hostile page of another origin, gives that page no credential.

The hostile page wraps fetch, Headers, JSON.stringify, XMLHttpRequest, window.open and listens to
every message before the bookmarklet runs (what a page that wants a user's token would do). The
bookmarklet opens our capture window; the large section reaches it by postMessage, and the note
is saved from that window with the session and CSRF token.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken
from conftest import login
from notes.models import Note

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BIG = "".join(f"<p>Paragraph {i}: the light reactions split water and release oxygen.</p>" for i in range(2000))
assert len(BIG) > 100_000

# Everything the page's own scripts could see of what the bookmarklet does.
SPY = """<script>
window.__seen = [];
const note = (what, args) => { try { window.__seen.push(what + " " + String([].slice.call(args).map(
  (a) => { try { return typeof a === "string" ? a : JSON.stringify(a) || String(a); } catch (e) { return String(a); } }))); } catch (e) {} };
const origFetch = window.fetch; window.fetch = function () { note("fetch", arguments); return origFetch.apply(this, arguments); };
const OrigHeaders = window.Headers; window.Headers = function (init) { note("Headers", arguments); return new OrigHeaders(init); };
const origStringify = JSON.stringify; JSON.stringify = function () { const out = origStringify.apply(this, arguments); window.__seen.push("JSON.stringify " + out); return out; };
const origOpen = XMLHttpRequest.prototype.open; XMLHttpRequest.prototype.open = function () { note("xhr.open", arguments); return origOpen.apply(this, arguments); };
const origSetHeader = XMLHttpRequest.prototype.setRequestHeader; XMLHttpRequest.prototype.setRequestHeader = function () { note("xhr.header", arguments); return origSetHeader.apply(this, arguments); };
const origSend = XMLHttpRequest.prototype.send; XMLHttpRequest.prototype.send = function () { note("xhr.send", arguments); return origSend.apply(this, arguments); };
const origWindowOpen = window.open; window.open = function () { note("window.open", arguments); return origWindowOpen.apply(this, arguments); };
window.addEventListener("message", (e) => note("message from " + e.origin, [e.data]), true);
</script>"""

ARTICLE = f"""<!doctype html><html><head><title>Photosynthesis</title>
<meta name="description" content="Light into chemical energy">{SPY}</head>
<body><nav>menu</nav><article><h1>Light reactions</h1><p id="p">Water is split and oxygen is released.</p>{BIG}</article></body></html>""".encode()


@pytest.fixture
def hostile_site(live_server):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(ARTICLE)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Another origin and another cookie host than the live server's (cookies ignore the port).
    host = "127.0.0.1" if "localhost" in live_server.url else "localhost"
    yield f"http://{host}:{server.server_port}/article"
    server.shutdown()
    server.server_close()


def _bookmarklet(page) -> str:
    page.goto("/notes/")
    page.get_by_text("Capture notes from any page").click()
    href = page.get_by_role("link", name="Save to notes").get_attribute("href")
    assert href.startswith("javascript:")
    return unquote(href.removeprefix("javascript:"))


def _select_and_click(page, hostile_site, code):
    page.goto(hostile_site)
    page.evaluate("""() => { const r = document.createRange(); r.selectNodeContents(document.getElementById('p'));
                             getSelection().removeAllRanges(); getSelection().addRange(r); }""")
    with page.expect_popup() as opened:
        page.evaluate(code)
    popup = opened.value
    popup.set_default_timeout(15_000)
    return popup


def _assert_note(owner, body):
    note = Note.objects.get()
    assert note.owner == owner and note.body == body
    assert note.page_url.endswith("/article") and note.site in ("localhost", "127.0.0.1")
    assert note.highlighted_text == "Water is split and oxygen is released."
    assert note.page_title == "Photosynthesis" and note.page_metadata == {"description": "Light into chemical energy"}
    assert note.page_section_html.startswith("<article>") and len(note.page_section_html) > 100_000
    return note


def test_the_hostile_page_sees_no_credential_and_the_large_section_arrives_by_postmessage(page, owner, hostile_site):
    _, raw_token = ApiToken.issue(owner, "script")  # the user has a token: it must appear nowhere
    login(page, "owner", "owner-pass-123")
    code = _bookmarklet(page)
    assert "llmp_" not in code and "Bearer" not in code and "csrf" not in code.lower()

    popup = _select_and_click(page, hostile_site, code)
    expect(popup.locator("#capture-section")).to_contain_text("The page sent its section")
    # A message from any window but the opener (here the popup itself) is ignored.
    popup.evaluate("""() => window.postMessage({type: "llmp-capture", page_url: document.getElementById("capture").dataset.pageUrl,
        page_title: "forged", highlighted_text: "forged", page_section_html: "<p>forged</p>", page_metadata: {}}, "*")""")
    popup.get_by_label("Your note").fill("O2 comes from water.")
    popup.get_by_role("button", name="Save note").click()
    expect(popup.locator("#capture-result")).to_contain_text("Note saved.")
    _assert_note(owner, "O2 comes from water.")

    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    secrets = [raw_token, cookies["sessionid"], cookies["csrftoken"]]
    seen = page.evaluate("window.__seen")
    text = "\n".join(seen) + page.evaluate("document.cookie")
    for secret in secrets:
        assert secret not in text
    opens = [s for s in seen if s.startswith("window.open ")]
    assert len(opens) == 1 and len(opens[0]) < 10_000  # the section did not travel in the URL


def test_capture_before_login_keeps_the_section_through_the_login(page, owner, hostile_site):
    page.goto("/login/")  # a page of ours first, so the bookmarklet can be read from a logged-in copy
    login(page, "owner", "owner-pass-123")
    code = _bookmarklet(page)
    page.context.clear_cookies()  # now logged out

    popup = _select_and_click(page, hostile_site, code)
    expect(popup.locator("#capture-section")).to_contain_text("The page sent its section")
    popup.get_by_role("link", name="Log in").click()
    popup.get_by_label("Username").fill("owner")
    popup.get_by_label("Password").fill("owner-pass-123")
    popup.get_by_role("button", name="Log in").click()
    popup.wait_for_url(lambda url: "/notes/capture/popup/" in url and "/login/" not in url)
    expect(popup.locator("#capture-section")).to_contain_text("The page sent its section")
    popup.get_by_label("Your note").fill("Saved after logging in.")
    popup.get_by_role("button", name="Save note").click()
    expect(popup.locator("#capture-result")).to_contain_text("Note saved.")
    _assert_note(owner, "Saved after logging in.")
