"""Every page names its icon (a static file, same origin), so no browser asks for /favicon.ico and
logs a 404 in the console of every page."""

import re

import pytest


@pytest.mark.django_db
def test_the_pages_icon_is_served(client):
    page = client.get("/login/")
    assert page.status_code == 200
    found = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page.content.decode())
    assert found, "the base layout names no icon"
    icon = client.get(found.group(1))
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content if icon.streaming else [icon.content])
