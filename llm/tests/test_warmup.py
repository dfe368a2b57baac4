"""A worker builds its SDK clients at start, so the first user's call does not pay for them."""

import pytest

from llm.providers import base
from llm.calls import warm_up


@pytest.mark.django_db
def test_warm_up_builds_the_clients_of_the_enabled_providers_that_have_keys(providers, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    base._CLIENTS.clear()
    warmed = warm_up()
    assert {"openai", "anthropic", "ollama"} <= set(warmed)
    assert "gemini" not in warmed and "manual" not in warmed  # no key / nothing to build
    kinds = {key[1] for key in base._CLIENTS}
    assert {"openai", "anthropic"} <= kinds
