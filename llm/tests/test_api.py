"""The JSON API: token and session auth, ownership, manual paste, jobs, OpenAPI."""

import pytest

from accounts.models import ApiToken
from llm.errors import ManualAnswerPending
from llm.models import LLMQuery
from llm.calls import complete

pytestmark = pytest.mark.django_db


def _bearer(user):
    _, raw = ApiToken.issue(user, "test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_openapi_and_docs_are_served(client):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200 and "/api/llm/queries" in spec.json()["paths"]


def test_anonymous_requests_get_401_not_a_login_page(client):
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/llm/queries").status_code == 401


def test_a_token_authenticates_and_is_stored_hashed(client, owner):
    token, raw = ApiToken.issue(owner, "script")
    assert raw not in token.token_hash and token.token_hash != raw
    response = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response.json()["username"] == "owner"
    assert client.get("/api/me", HTTP_AUTHORIZATION="Bearer llmp_wrong").status_code == 401
    token.revoke()
    assert client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_users_see_only_their_own_queries(client, providers, owner, outsider, fake):
    mine = complete(purpose="tests.api", prompt="a", provider="openai", model="gpt-4o", user=owner)
    complete(purpose="tests.api", prompt="b", provider="openai", model="gpt-4o", user=outsider)
    listed = client.get("/api/llm/queries", **_bearer(owner)).json()
    assert [q["id"] for q in listed["items"]] == [mine.query_id]
    assert client.get(f"/api/llm/queries/{mine.query_id}", **_bearer(outsider)).status_code == 404


def test_paste_through_the_api_validates_and_accepts(client, providers, owner, outsider):
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    with pytest.raises(ManualAnswerPending) as info:
        complete(purpose="tests.api", prompt="2+2?", provider="manual", schema=schema, user=owner)
    qid = info.value.query_id
    pending = client.get("/api/llm/manual/pending", **_bearer(owner)).json()
    assert pending[0]["query_id"] == qid and "2+2?" in pending[0]["prompt"]
    assert client.get("/api/llm/manual/pending", **_bearer(outsider)).json() == []
    url = f"/api/llm/manual/{qid}/answer"
    assert client.post(url, {"answer": '{"answer": 4}'}, content_type="application/json", **_bearer(outsider)).status_code == 404
    bad = client.post(url, {"answer": '{"answer": "four"}'}, content_type="application/json", **_bearer(owner))
    assert bad.status_code == 400 and "answer" in bad.json()["detail"]
    good = client.post(url, {"answer": '{"answer": 4}', "model_name": "claude"}, content_type="application/json", **_bearer(owner))
    assert good.status_code == 200 and good.json()["status"] == "ok"
    assert LLMQuery.objects.get(pk=qid).model_name == "claude"


def test_jobs_api_refuses_an_unconfigured_provider_with_the_fix(client, providers, owner, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    response = client.post("/api/llm/jobs", {"prompt": "hi", "provider": "openai"}, content_type="application/json", **_bearer(owner))
    assert response.status_code == 400 and "OPENAI_API_KEY" in response.json()["detail"]
    response = client.post("/api/llm/jobs", {"prompt": "", "provider": "manual"}, content_type="application/json", **_bearer(owner))
    assert response.status_code == 422


def test_jobs_api_runs_a_prompt(client, providers, owner, celery_eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/llm/jobs", {"prompt": "hello", "provider": "openai", "model": "gpt-4o-mini"},
                               content_type="application/json", **_bearer(owner))
    assert response.status_code == 201
    job = client.get(f"/api/llm/jobs/{response.json()['id']}", **_bearer(owner)).json()
    assert job["status"] == "completed" and job["result_text"].startswith("Fake answer")
