"""LLM answers and captured page HTML carrying script payloads stay inert on every page that shows them.

Each payload sets ``window.__pwned``; after each page loads (and its scripts, Mermaid included,
have run) it must still be undefined, no dialog may open, and no link, frame or image may point
at ``javascript:``.
"""

import pytest

from conftest import login

from .world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOAD = "\n".join([
    "Intro text **bold**",
    "<script>window.__pwned=1;alert(1)</script>",
    '<img src=x onerror="window.__pwned=2;alert(2)">',
    '<svg onload="window.__pwned=3"></svg><svg><script>window.__pwned=4</script></svg>',
    '<a href="javascript:window.__pwned=5">click me</a>',
    "[markdown link](javascript:window.__pwned=6) [other](JaVaScRiPt:window.__pwned=6)",
    "![img](javascript:window.__pwned=7) <iframe src=\"javascript:window.__pwned=8\"></iframe>",
    "\"'><script>window.__pwned=9</script><details open ontoggle=\"window.__pwned=10\">x</details>",
    "</textarea></code></pre><style>*{}</style><body onload=\"window.__pwned=11\">",
    "click %%{init: {'securityLevel': 'loose'}}%% B[\"<img src=x onerror=window.__pwned=12>\"]",
])

DANGER = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const v = attr.value.trim().toLowerCase();
      if (attr.name.startsWith('on') && v.includes('__pwned')) bad.push(el.tagName + ' ' + attr.name);
      if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data'].includes(attr.name) && v.startsWith('javascript:'))
        bad.push(el.tagName + ' ' + attr.name + '=' + v.slice(0, 40));
    }
  }
  return bad;
}"""


def test_hostile_llm_output_and_page_html_stay_inert_everywhere(page, providers, fake, owner, live_server):
    w = build_world(owner, text=PAYLOAD, fake=fake)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # The payloads are live when a page renders them raw: the checks below can see them fire.
    page.set_content(f"<html><body>{PAYLOAD}</body></html>")
    assert page.evaluate("() => window.__pwned") is not None and page.evaluate(DANGER) and dialogs
    dialogs.clear()
    login(page, "owner", "owner-pass-123")
    urls = [
        f"/notes/{w.note.pk}/", "/notes/",
        *[f"/artifacts/{a.pk}/" for a in w.artifacts.values()], f"/artifacts/{w.artifact.pk}/status/", "/artifacts/",
        f"/artifacts/{w.artifact.pk}/edit/",
        f"/products/{w.product.pk}/", *[f"/products/generate/{w.session.pk}/step/{n}/" for n in (1, 2, 3, 4)],
        f"/segmentation/runs/{w.seg_run.pk}/", f"/segmentation/runs/{w.seg_run.pk}/results/",
        f"/codegen/runs/{w.codegen_run.run_id}/", f"/codegen/runs/{w.codegen_run.run_id}/files/{w.codegen_file.pk}/",
        f"/llm/calls/{w.query.pk}/", f"/llm/jobs/{w.job.pk}/", "/llm/prompt/", f"/llm/manual/{w.manual_query_id}/",
        f"/llm/images/{w.image.pk}/", "/llm/",
    ]
    problems = []
    for url in urls:
        response = page.goto(url)
        if response is None or response.status >= 400:
            problems.append(f"{url}: HTTP {response and response.status}")
            continue
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(150)  # Mermaid renders after load
        pwned = page.evaluate("() => window.__pwned")
        if pwned is not None:
            problems.append(f"{url}: payload {pwned} ran")
        bad = page.evaluate(DANGER)
        if bad:
            problems.append(f"{url}: live attributes {bad[:5]}")
        if not page.url.startswith(live_server.url):
            problems.append(f"{url}: navigated to {page.url}")
    assert not dialogs, dialogs
    assert not problems, "\n".join(problems)
    # The payload really reached the pages (as text), so the checks above looked at it.
    page.goto(f"/notes/{w.note.pk}/")
    assert "window.__pwned=1" in page.content()
    # The interaction file (prompt and answer) is a JSON download, never rendered as a page.
    raw = page.request.get(f"/llm/calls/{w.query.pk}/file/")
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["content-disposition"].startswith("attachment")
    assert raw.headers["x-content-type-options"] == "nosniff"
