"""HTML pages of the llm app: calls, call detail, copy/paste queue, prompt jobs."""

import pytest

from llm.errors import ManualAnswerPending
from llm.models import LLMJob
from llm.calls import complete

pytestmark = pytest.mark.django_db


def _pending(user, schema=None):
    with pytest.raises(ManualAnswerPending) as info:
        complete(purpose="tests.views", prompt="Explain <b>tags</b> & entities", provider="manual", user=user, schema=schema)
    return info.value.query_id


def test_pages_need_a_login(client, providers):
    response = client.get("/llm/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_calls_page_lists_only_the_users_calls(client, providers, owner, outsider):
    mine = complete(purpose="tests.mine", prompt="a", provider="openai", model="gpt-4o", user=owner)
    other = complete(purpose="tests.theirs", prompt="b", provider="openai", model="gpt-4o", user=outsider)
    client.force_login(owner)
    page = client.get("/llm/").content.decode()
    assert "tests.mine" in page and "tests.theirs" not in page
    assert client.get(f"/llm/calls/{mine.query_id}/").status_code == 200
    assert client.get(f"/llm/calls/{other.query_id}/").status_code == 404
    assert client.get(f"/llm/calls/{other.query_id}/file/").status_code == 404
    detail = client.get(f"/llm/calls/{mine.query_id}/").content.decode()
    assert "checksum matches" in detail


def test_manual_queue_and_paste_page(client, providers, owner, outsider):
    qid = _pending(owner, schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    client.force_login(owner)
    queue = client.get("/llm/manual/").content.decode()
    assert f"/llm/manual/{qid}/" in queue
    page = client.get(f"/llm/manual/{qid}/").content.decode()
    assert "Explain &lt;b&gt;tags&lt;/b&gt; &amp; entities" in page  # escaped, never rendered
    bad = client.post(f"/llm/manual/{qid}/", {"answer": '{"n": "x"}', "model_name": "gpt"})
    body = bad.content.decode()
    assert bad.status_code == 200 and "was not accepted" in body and "{&quot;n&quot;: &quot;x&quot;}" in body
    good = client.post(f"/llm/manual/{qid}/", {"answer": '{"n": 3}', "model_name": "gpt"})
    assert good.status_code == 302
    client.force_login(outsider)
    assert client.get(f"/llm/manual/{qid}/").status_code == 404


def test_prompt_page_creates_a_job_and_the_job_page_polls(client, providers, owner, celery_eager,
                                                          django_capture_on_commit_callbacks):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/llm/prompt/", {"provider": providers["openai"].pk, "model_name": "gpt-4o-mini",
                                                "prompt": "Say hi"})
    job = LLMJob.objects.get()
    assert response.status_code == 302 and response.url == f"/llm/jobs/{job.pk}/"
    partial = client.get(f"/llm/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Completed" in partial and "<html" not in partial


def test_prompt_page_rejects_an_unconfigured_provider(client, providers, owner, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    client.force_login(owner)
    response = client.post("/llm/prompt/", {"provider": providers["anthropic"].pk, "prompt": "x"})
    assert response.status_code == 200 and "ANTHROPIC_API_KEY" in response.content.decode()
    assert not LLMJob.objects.exists()


def test_home_page_says_which_providers_are_configured(client, providers, owner, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    client.force_login(owner)
    page = client.get("/").content.decode()
    assert "not configured" in page and "ANTHROPIC_API_KEY" in page
