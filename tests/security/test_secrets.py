"""Provider keys (a user's own and the server's) appear in no stored file, log line or response body.

A masked form (``••••abcd``) is fine: no run of 8 or more characters of a key may appear anywhere.
"""

import json
import logging
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client

from artifacts.models import NoteArtifact, UserApiKey
from llm.calls import complete
from llm.testing.fake_provider import Reply
from notes.models import Note

pytestmark = pytest.mark.django_db

USER_KEY = "sk-user-own-Zq8Xw3Vt6Rp1Lm4Kj7Hg"
ENV_KEY = "sk-server-env-Yb5Nc2Md9Fe6Gh3Jk0P"


def _fragments(key: str, n: int = 8) -> set[str]:
    return {key[i:i + n] for i in range(len(key) - n + 1)}


def _leaks(text: str) -> list[str]:
    return sorted(f for key in (USER_KEY, ENV_KEY) for f in _fragments(key) if f in text)


def test_keys_leak_into_no_file_log_or_response(client, owner, providers, fake, celery_eager, monkeypatch, tmp_path,
                                                caplog, django_capture_on_commit_callbacks, settings):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    fake.set_default(Reply(text="A summary of the page."))
    client.force_login(owner)
    bodies = []

    def get(url, **kw):
        response = client.get(url, **kw)
        assert response.status_code == 200, (url, response.status_code)
        bodies.append(b"".join(response.streaming_content) if response.streaming else response.content)
        return response

    saved = client.post("/api/artifacts/keys", data={"provider": "openai", "api_key": USER_KEY},
                        content_type="application/json")
    assert saved.status_code == 201
    bodies.append(saved.content)
    note = Note.objects.create(owner=owner, body="Keys must stay secret.", page_url="https://example.com/")
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/api/artifacts/generate/note/{note.pk}", content_type="application/json",
                              data={"generation_mode": "user_key", "provider": "openai", "model": "gpt-4o-mini"})
    assert started.status_code == 202, started.content
    bodies.append(started.content)
    artifact = NoteArtifact.objects.get(pk=started.json()["id"])
    assert artifact.status == "completed", artifact.error
    server_call = complete(purpose="tests.secrets", prompt="hello", provider="openai", model="gpt-4o-mini", user=owner)
    # The keys really went out (so the greps below look at a flow that used them).
    sent = [r.headers.get("authorization", "") for r in fake.requests]
    assert f"Bearer {USER_KEY}" in sent and f"Bearer {ENV_KEY}" in sent

    # A provider that echoes the key back in its error (as real ones do, partly masked).
    fake.script(Reply(status=401, error_message=f"Incorrect API key provided: {ENV_KEY}"))
    with pytest.raises(Exception):
        complete(purpose="tests.secrets.fail", prompt="again", provider="openai", model="gpt-4o-mini", user=owner,
                 cache=False)

    from llm.models import LLMQuery

    for row in LLMQuery.objects.all():
        get(f"/llm/calls/{row.pk}/")
        if row.file_path:
            get(f"/llm/calls/{row.pk}/file/")
        assert not _leaks(json.dumps({"error": row.error, "params": row.params}, default=str)), row.pk
    for url in ("/artifacts/keys/", f"/artifacts/{artifact.pk}/", "/api/artifacts/keys", f"/api/artifacts/{artifact.pk}",
                "/api/llm/queries", f"/api/llm/queries/{server_call.query_id}", "/llm/providers/", "/llm/dashboard/",
                "/", "/llm/"):
        get(url)

    # A server error while saving a key, with DEBUG off: the 500 page and the error log keep the key out.
    settings.DEBUG = False
    crashing = Client(raise_request_exception=False)
    crashing.force_login(owner)

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(UserApiKey, "save", broken_save)
    with transaction.atomic():
        error = crashing.post("/artifacts/keys/", {"provider": "openai", "api_key": USER_KEY})
        error_api = crashing.post("/api/artifacts/keys", data={"provider": "openai", "api_key": USER_KEY},
                                  content_type="application/json")
    assert error.status_code == 500 and error_api.status_code == 500
    bodies += [error.content, error_api.content]

    leaks = {f"response {i}": _leaks(b.decode(errors="replace")) for i, b in enumerate(bodies)}
    leaks["logs"] = _leaks(caplog.text)
    storage = Path(settings.STORAGES["llm_logs"]["OPTIONS"]["location"])
    files = [p for p in storage.rglob("*") if p.is_file()]
    assert files, "the flow wrote no interaction file"
    for path in files:
        leaks[str(path.relative_to(storage))] = _leaks(path.read_bytes().decode(errors="replace"))
    assert not {k: v for k, v in leaks.items() if v}
