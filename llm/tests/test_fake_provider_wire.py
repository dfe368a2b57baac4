"""Wire-level tests of llm.testing.fake_provider against the official SDKs.

No Django, no database: plain pytest functions.  Every SDK client is built
with retries disabled so error tests are instant.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from llm.testing.fake_provider import (
    TINY_PNG,
    FakeProviderServer,
    Reply,
    count_tokens,
    requests_remote,
    reset_remote,
    script_remote,
    set_default_remote,
    wait_until_ready,
)

ANTHROPIC_MODEL = "claude-sonnet-4-6"  # not in anthropic's DEPRECATED_MODELS (no warning)


# --------------------------------------------------------------------------- #
# Fixtures
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def server():
    with FakeProviderServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(server):
    server.reset()
    yield
    server.reset()


@pytest.fixture(scope="module")
def oai(server):
    client = openai.OpenAI(api_key="sk-test", base_url=server.openai_base_url, max_retries=0, timeout=10)
    yield client
    client.close()


@pytest.fixture(scope="module")
def claude(server):
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=server.anthropic_base_url, max_retries=0, timeout=10)
    yield client
    client.close()


def _gemini_options(server, **kw) -> genai_types.HttpOptions:
    # google-genai 3.4: HttpOptions.retry_options=None (the default) already
    # means "never retry" (tenacity stop_after_attempt(1), see
    # google/genai/_api_client.py retry_args()).  Retries only happen when
    # retry_options is given; attempts=1 (or 0) disables them explicitly.
    # HttpOptions.timeout is in *milliseconds*.
    return genai_types.HttpOptions(
        base_url=server.gemini_base_url,
        retry_options=genai_types.HttpRetryOptions(attempts=1),
        **kw,
    )


@pytest.fixture(scope="module")
def gem(server):
    return genai.Client(api_key="gem-test", http_options=_gemini_options(server))


def _chat(client, text="Hello there", **kw):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **kw
    )


# --------------------------------------------------------------------------- #
# OpenAI
# --------------------------------------------------------------------------- #
def test_openai_default_answer_and_token_counts(server, oai):
    resp = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the capital of France? Answer in one word."},
        ],
    )
    content = resp.choices[0].message.content
    assert content == "Fake answer to: " + "What is the capital of France? Answer in one word."[:40]
    assert resp.model == "gpt-4o-mini"
    assert resp.object == "chat.completion"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.refusal is None
    expected_in = count_tokens("You are terse.\nWhat is the capital of France? Answer in one word.")
    assert resp.usage.prompt_tokens == expected_in
    assert resp.usage.completion_tokens == count_tokens(content)
    assert resp.usage.total_tokens == expected_in + count_tokens(content)

    [rec] = server.requests
    assert rec.route == "openai" and rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert rec.body["model"] == "gpt-4o-mini"
    assert rec.headers["authorization"] == "Bearer sk-test"


def test_openai_scripted_text_and_usage_override(server, oai):
    server.script(
        Reply(
            text="Paris",
            usage={"input_tokens": 1000, "output_tokens": 300, "cached_input_tokens": 600, "reasoning_tokens": 250},
        ),
        route="openai",
    )
    resp = _chat(oai)
    assert resp.choices[0].message.content == "Paris"
    u = resp.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (1000, 300, 1300)
    assert u.prompt_tokens_details.cached_tokens == 600
    assert u.completion_tokens_details.reasoning_tokens == 250


def test_openai_json_reply_and_truncation(oai, server):
    server.script(Reply(json={"answer": 42}), Reply(text="abcdefghij", truncated=True))
    assert json.loads(_chat(oai).choices[0].message.content) == {"answer": 42}
    resp = _chat(oai)
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].message.content == "abcde"


def test_openai_forced_function_call(oai, server):
    server.script(Reply(json={"city": "Paris"}))
    resp = _chat(
        oai,
        tools=[{"type": "function", "function": {"name": "answer", "parameters": {"type": "object"}}}],
        tool_choice={"type": "function", "function": {"name": "answer"}},
    )
    call = resp.choices[0].message.tool_calls[0]
    assert call.function.name == "answer"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_openai_rate_limit_exposes_retry_after(oai, server):
    server.script(Reply(status=429, retry_after=1, error_message="slow down"), route="openai")
    with pytest.raises(openai.RateLimitError) as exc_info:
        _chat(oai)
    err = exc_info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "1"
    assert err.code == "rate_limit_exceeded"
    assert "slow down" in err.message


def test_openai_error_type_override(oai, server):
    server.script(Reply(status=429, error_type="insufficient_quota", error_message="no money"))
    with pytest.raises(openai.RateLimitError) as exc_info:
        _chat(oai)
    assert exc_info.value.type == "insufficient_quota"
    assert exc_info.value.code == "insufficient_quota"


@pytest.mark.parametrize(
    "status,exc_class",
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_openai_status_errors(oai, server, status, exc_class):
    server.script(Reply(status=status))
    with pytest.raises(exc_class) as exc_info:
        _chat(oai)
    assert exc_info.value.status_code == status


def test_openai_dropped_connection(oai, server):
    server.script(Reply(drop=True))
    with pytest.raises(openai.APIConnectionError) as exc_info:
        _chat(oai)
    assert not isinstance(exc_info.value, openai.APITimeoutError)
    # the pool recovers: next request works on a fresh connection
    assert _chat(oai, "again").choices[0].message.content == "Fake answer to: again"


def test_openai_timeout(oai, server):
    server.script(Reply(delay=2, text="too late"))
    t0 = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        _chat(oai, timeout=0.5)
    assert time.monotonic() - t0 < 1.5


def test_openai_malformed_body_does_not_hang(oai, server):
    server.script(Reply(raw_body="{not json", status=200))
    t0 = time.monotonic()
    try:
        resp = _chat(oai)
    # observed with openai 3.54 (and anthropic 2.12 / google-genai 3.4): a bare
    # json.JSONDecodeError escapes, not an SDK exception class.
    except Exception as exc:  # noqa: BLE001 - any parse error is fine
        outcome = type(exc).__name__
    else:
        outcome = resp  # the SDK may hand back the unparsed string
    assert outcome is not None
    assert time.monotonic() - t0 < 2


def test_openai_streaming_speaks_chat_completion_chunks(oai):
    # The shape of openai-python's recorded stream (.inline-snapshot/external/e2aad469b71d….bin).
    chunks = list(_chat(oai, stream=True, stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Fake answer to:")
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_openai_images_generate(oai, server):
    resp = oai.images.generate(model="gpt-image-1", prompt="a red fox", n=2)
    assert len(resp.data) == 2
    assert base64.b64decode(resp.data[0].b64_json) == TINY_PNG
    assert resp.usage.input_tokens == count_tokens("a red fox")
    assert server.requests[-1].route == "openai_images"

    custom = base64.b64encode(b"not-really-a-png").decode()
    server.script(Reply(image_b64=custom), route="openai_images")
    resp = oai.images.generate(model="gpt-image-1", prompt="x")
    assert resp.data[0].b64_json == custom


def test_openai_models_list(oai):
    ids = [m.id for m in oai.models.list()]
    assert "gpt-4o" in ids


def test_openai_models_list_scripted_error_only_for_models_route(oai, server):
    # a route-agnostic reply is NOT consumed by models.list ...
    server.script(Reply(text="for chat"))
    assert oai.models.list().data
    assert _chat(oai).choices[0].message.content == "for chat"
    # ... but a models-route reply is.
    server.script(Reply(status=401), route="openai_models")
    with pytest.raises(openai.AuthenticationError):
        oai.models.list()


# --------------------------------------------------------------------------- #
# Anthropic
# --------------------------------------------------------------------------- #
def _claude(client, text="Hello Claude", **kw):
    kw.setdefault("max_tokens", 256)
    return client.messages.create(model=ANTHROPIC_MODEL, messages=[{"role": "user", "content": text}], **kw)


def test_anthropic_text_and_usage(claude, server):
    msg = claude.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Say hi"}]}],
    )
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Fake answer to: Say hi"
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.role == "assistant" and msg.model == ANTHROPIC_MODEL and msg.id.startswith("msg_")
    assert msg.usage.input_tokens == count_tokens("Be brief.\nSay hi")
    assert msg.usage.output_tokens == count_tokens("Fake answer to: Say hi")
    rec = server.requests[-1]
    assert rec.route == "anthropic"
    # anthropic 2.x sends the key as "Authorization: Bearer", not x-api-key
    assert rec.headers["authorization"] == "Bearer sk-ant-test"
    assert "anthropic-version" in rec.headers  # what the server uses to tell GET /v1/models apart


def test_anthropic_cache_usage_mapping(claude, server):
    server.script(
        Reply(
            text="ok",
            usage={"input_tokens": 1000, "output_tokens": 50, "cached_input_tokens": 700, "cache_write_input_tokens": 100},
        ),
        route="anthropic",
    )
    u = _claude(claude).usage
    assert u.input_tokens == 200  # excludes cache reads and writes
    assert u.cache_read_input_tokens == 700
    assert u.cache_creation_input_tokens == 100
    assert u.output_tokens == 50


def test_anthropic_forced_tool_use(claude, server):
    tools = [{"name": "record", "description": "x", "input_schema": {"type": "object"}}]
    server.script(
        Reply(json={"title": "T", "tags": ["a"]}),
        Reply(text='{"title": "from text"}'),
        Reply(text="not json at all"),
        Reply(json={"title": "long title here"}, truncated=True),
    )
    forced = {"type": "tool", "name": "record"}

    msg = _claude(claude, tools=tools, tool_choice=forced)
    assert msg.stop_reason == "tool_use"
    [block] = msg.content
    assert block.type == "tool_use" and block.name == "record" and block.id.startswith("toolu_")
    assert block.input == {"title": "T", "tags": ["a"]}

    assert _claude(claude, tools=tools, tool_choice=forced).content[0].input == {"title": "from text"}

    msg = _claude(claude, tools=tools, tool_choice=forced)
    assert msg.content[0].type == "text" and msg.content[0].text == "not json at all"

    msg = _claude(claude, tools=tools, tool_choice=forced)
    assert msg.stop_reason == "max_tokens"
    full = json.dumps({"title": "long title here"})
    assert msg.content[0].type == "text" and msg.content[0].text == full[: len(full) // 2]


def test_anthropic_truncated_text(claude, server):
    server.script(Reply(text="0123456789", truncated=True))
    msg = _claude(claude)
    assert msg.stop_reason == "max_tokens"
    assert msg.content[0].text == "01234"


def test_anthropic_rate_limit(claude, server):
    server.script(Reply(status=429, retry_after=3, error_message="too many"), route="anthropic")
    with pytest.raises(anthropic.RateLimitError) as exc_info:
        _claude(claude)
    err = exc_info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "3"
    assert err.body["error"]["type"] == "rate_limit_error"
    assert err.body["error"]["message"] == "too many"


@pytest.mark.parametrize(
    "status,exc_class",
    [
        (401, anthropic.AuthenticationError),
        (500, anthropic.InternalServerError),
        (529, anthropic.OverloadedError),
    ],
)
def test_anthropic_status_errors(claude, server, status, exc_class):
    server.script(Reply(status=status))
    with pytest.raises(exc_class):
        _claude(claude)


def test_anthropic_timeout_and_drop(claude, server):
    server.script(Reply(delay=2), Reply(drop=True))
    with pytest.raises(anthropic.APITimeoutError):
        _claude(claude, timeout=0.5)
    with pytest.raises(anthropic.APIConnectionError):
        _claude(claude)


def test_anthropic_models_list(claude):
    page = claude.models.list()
    ids = [m.id for m in page]
    assert ANTHROPIC_MODEL in ids
    assert page.has_more is False


# --------------------------------------------------------------------------- #
# Gemini (google-genai)
# --------------------------------------------------------------------------- #
def test_gemini_text_and_usage(gem, server):
    resp = gem.models.generate_content(
        model="gemini-2.5-flash",
        contents="Tell me a joke",
        config=genai_types.GenerateContentConfig(system_instruction="You are funny."),
    )
    assert resp.text == "Fake answer to: Tell me a joke"
    assert resp.candidates[0].finish_reason == genai_types.FinishReason.STOP
    um = resp.usage_metadata
    assert um.prompt_token_count == count_tokens("You are funny.\nTell me a joke")
    assert um.candidates_token_count == count_tokens(resp.text)
    # zero counts are omitted like the real API -> None in the SDK
    assert um.thoughts_token_count is None and um.cached_content_token_count is None
    rec = server.requests[-1]
    assert rec.route == "gemini"
    assert rec.path == "/v1/models/gemini-2.5-flash:generateContent"  # google-genai 3.x default api_version is v1
    assert rec.headers["x-goog-api-key"] == "gem-test"


def test_gemini_usage_override_thoughts_mapping(gem, server):
    server.script(
        Reply(
            json={"ok": True},
            usage={"input_tokens": 500, "output_tokens": 120, "reasoning_tokens": 100, "cached_input_tokens": 200},
        ),
        route="gemini",
    )
    resp = gem.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert json.loads(resp.text) == {"ok": True}
    um = resp.usage_metadata
    assert um.prompt_token_count == 500
    assert um.candidates_token_count == 20  # excludes thoughts
    assert um.thoughts_token_count == 100
    assert um.cached_content_token_count == 200
    assert um.total_token_count == 620


def test_gemini_v1beta_api_version(server):
    client = genai.Client(api_key="x", http_options=_gemini_options(server, api_version="v1beta"))
    assert client.models.generate_content(model="gemini-2.5-flash", contents="yo").text == "Fake answer to: yo"
    assert server.requests[-1].path == "/v1beta/models/gemini-2.5-flash:generateContent"


def test_gemini_truncated(gem, server):
    server.script(Reply(text="abcdefgh", truncated=True))
    resp = gem.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert resp.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
    assert resp.text == "abcd"


def test_gemini_rate_limit(gem, server):
    server.script(Reply(status=429, retry_after=7, error_message="quota"), route="gemini")
    with pytest.raises(genai_errors.ClientError) as exc_info:
        gem.models.generate_content(model="gemini-2.5-flash", contents="hi")
    err = exc_info.value
    assert err.code == 429
    assert err.status == "RESOURCE_EXHAUSTED"
    assert err.message == "quota"
    assert err.response.headers["retry-after"] == "7"  # err.response is the httpx2.Response


def test_gemini_server_error_is_not_retried(gem, server):
    server.script(Reply(status=500), Reply(status=503))
    t0 = time.monotonic()
    with pytest.raises(genai_errors.ServerError) as exc_info:
        gem.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert exc_info.value.code == 500 and exc_info.value.status == "INTERNAL"
    with pytest.raises(genai_errors.ServerError) as exc_info:
        gem.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert exc_info.value.code == 503 and exc_info.value.status == "UNAVAILABLE"
    assert time.monotonic() - t0 < 1
    assert len(server.requests) == 2  # exactly one attempt each


def test_gemini_timeout_and_drop_raise_raw_httpx2_errors(server):
    # google-genai does not wrap transport errors: a timeout surfaces as
    # httpx2.ReadTimeout (an httpx2.TimeoutException), a dropped connection as
    # httpx2.RemoteProtocolError - neither is a google.genai.errors.APIError.
    client = genai.Client(api_key="x", http_options=_gemini_options(server, timeout=500))
    server.script(Reply(delay=2), Reply(drop=True))
    with pytest.raises(httpx2.TimeoutException):
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    with pytest.raises(httpx2.RemoteProtocolError):
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")


def test_gemini_forced_function_call(gem, server):
    server.script(Reply(json={"x": 1}))
    resp = gem.models.generate_content(
        model="gemini-2.5-flash",
        contents="hi",
        config=genai_types.GenerateContentConfig(
            tools=[genai_types.Tool(function_declarations=[genai_types.FunctionDeclaration(name="emit", description="d")])],
            tool_config=genai_types.ToolConfig(
                function_calling_config=genai_types.FunctionCallingConfig(mode="ANY", allowed_function_names=["emit"])
            ),
            automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    [call] = resp.function_calls
    assert call.name == "emit" and call.args == {"x": 1}


def test_gemini_models_list(gem, server):
    names = [m.name for m in gem.models.list()]
    assert "models/gemini-2.5-flash" in names
    assert server.requests[-1].route == "gemini_models"


def test_gemini_imagen_predict(server):
    # google-genai 3.x: models.generate_images (Imagen :predict) is Vertex-only;
    # on a Developer-API client it raises ValueError before any request.  A
    # Vertex "express mode" client (vertexai=True + api_key + base_url) posts to
    # /v1beta1/publishers/google/models/{model}:predict.
    client = genai.Client(vertexai=True, api_key="x", http_options=_gemini_options(server))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # generate_images is marked deprecated
        resp = client.models.generate_images(
            model="imagen-4.0-generate-001",
            prompt="a lighthouse",
            config=genai_types.GenerateImagesConfig(number_of_images=2),
        )
    assert len(resp.generated_images) == 2
    assert resp.generated_images[0].image.image_bytes == TINY_PNG
    rec = server.requests[-1]
    assert rec.route == "gemini_images"
    assert rec.body["instances"][0]["prompt"] == "a lighthouse"


def test_gemini_image_output_via_generate_content(gem, server):
    server.script(Reply(text="here", image_b64=base64.b64encode(TINY_PNG).decode()))
    resp = gem.models.generate_content(model="gemini-2.5-flash-image", contents="draw")
    inline = [p.inline_data for p in resp.candidates[0].content.parts if p.inline_data]
    assert inline[0].data == TINY_PNG and inline[0].mime_type == "image/png"


# --------------------------------------------------------------------------- #
# Scripting semantics and control endpoints
# --------------------------------------------------------------------------- #
def test_route_specific_before_route_agnostic_and_defaults(oai, server):
    server.script(Reply(text="any-1"), Reply(text="any-2"))
    server.script(Reply(text="openai-1"), route="openai")
    assert [_chat(oai).choices[0].message.content for _ in range(3)] == ["openai-1", "any-1", "any-2"]
    server.set_default(Reply(text="default"))
    assert _chat(oai).choices[0].message.content == "default"
    server.set_default(lambda req: Reply(text=f"echo {req.body['messages'][-1]['content']}"))
    assert _chat(oai, "ping").choices[0].message.content == "echo ping"
    with pytest.raises(ValueError):
        server.script(Reply(), route="nope")


def test_control_endpoints(oai, server):
    script_remote(server.url, Reply(text="remote reply"), route="openai")
    assert _chat(oai, "via remote").choices[0].message.content == "remote reply"
    recorded = requests_remote(server.url)
    assert [r["route"] for r in recorded] == ["openai"]
    assert recorded[0]["body"]["messages"][0]["content"] == "via remote"
    assert recorded[0]["path"] == "/v1/chat/completions"

    set_default_remote(server.url, Reply(status=503))
    with pytest.raises(openai.InternalServerError):
        _chat(oai)

    reset_remote(server.url)
    assert requests_remote(server.url) == []
    assert _chat(oai, "x").choices[0].message.content == "Fake answer to: x"

    # raw JSON body for the script endpoint; unknown fields are rejected
    req = urllib.request.Request(
        server.url + "/_fake/script",
        data=json.dumps({"route": None, "replies": [{"bogus": 1}]}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as exc_info:
        urllib.request.urlopen(req, timeout=5)
    assert exc_info.value.code == 400


def test_concurrent_openai_requests(server):
    client = openai.OpenAI(api_key="x", base_url=server.openai_base_url, max_retries=0, timeout=10)
    server.set_default(Reply(text="ok", delay=0.2))
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            t0 = time.monotonic()
            results = list(pool.map(lambda i: _chat(client, f"q{i}").choices[0].message.content, range(20)))
            elapsed = time.monotonic() - t0
    finally:
        client.close()
    assert results == ["ok"] * 20
    assert elapsed < 2  # served in parallel, not 20 * 0.2 s
    assert len(server.requests_for("openai")) == 20


def test_runs_as_separate_process():
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm.testing.fake_provider", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        wait_until_ready(url)
        script_remote(url, Reply(text="from another process"), route="openai")
        client = openai.OpenAI(api_key="x", base_url=url + "/v1", max_retries=0, timeout=5)
        try:
            assert _chat(client).choices[0].message.content == "from another process"
        finally:
            client.close()
        assert [r["route"] for r in requests_remote(url)] == ["openai"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
