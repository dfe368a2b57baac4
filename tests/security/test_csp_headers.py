"""Issue 19, finding 3: every URL pattern answers with the Content-Security-Policy.

Walks the URLconf, fills path parameters with 1 (objects that do not exist: 404 pages must
carry the header too) and requests each as a signed-in staff user.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db
REQUIRED = ("script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
            "frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'", "form-action 'self'")


def _paths(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _paths(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def _concrete(route: str) -> str:
    import re

    route = route.lstrip("^").rstrip("$").replace("\\Z", "")
    route = re.sub(r"<(?:int:)?\w+>", "1", route)
    route = re.sub(r"<(?:str|slug|path):\w+>", "x", route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)
    return "/" + route.replace("\\", "")


def test_every_url_pattern_sends_the_policy(client, staff):
    client.force_login(staff)
    paths = sorted({_concrete(r) for r in _paths()})
    assert len(paths) > 50
    missing = []
    for path in paths:
        if path.startswith("/static/") or "(" in path:
            continue
        response = client.get(path)
        policy = response.headers.get("Content-Security-Policy", "")
        if not all(part in policy for part in REQUIRED) or "unsafe-eval" in policy or "script-src 'self' 'unsafe" in policy:
            missing.append((path, response.status_code, policy))
    assert missing == []


def test_only_diagram_pages_allow_inline_styles_and_never_inline_script(client, owner):
    from notes.models import Note

    client.force_login(owner)
    note = Note.objects.create(owner=owner, page_title="n")
    plain = client.get("/notes/").headers["Content-Security-Policy"]
    assert "unsafe-inline" not in plain
    diagram = client.get(f"/notes/{note.pk}/").headers["Content-Security-Policy"]
    assert "style-src-attr 'unsafe-inline'" in diagram and "script-src 'self';" in diagram + ";"
