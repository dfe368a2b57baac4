"""The fake provider's fault mode: each injected fault reaches the official SDKs (through
``llm.complete``) as the error or answer a real provider's failure would, and is logged with
the matching LLMQuery status."""

import pytest
from pydantic import BaseModel

from llm.errors import LLMInvalidOutputError, LLMTruncatedError, LLMUnavailableError
from llm.models import LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import FAULT_KINDS, Reply, corrupt_json, expected_statuses

pytestmark = pytest.mark.django_db

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


class Picks(BaseModel):
    product_ids: list[str]


RIGHT = {"product_ids": ["P_1", "P_2"]}


@pytest.fixture
def one_try(settings):
    settings.LLM_MAX_ATTEMPTS = 1
    settings.LLM_REQUEST_TIMEOUT = 0.4
    settings.LLM_CACHE_ENABLED = False


def _ask(provider: str):
    return complete(purpose="tests.faults", prompt="Pick P_1 and P_2.", provider=provider, model=MODELS[provider],
                    schema=Picks, validation_retries=0)


OUTCOMES = {
    "rate_limit": LLMUnavailableError,
    "rate_limit_retry_after": LLMUnavailableError,
    "server_error": LLMUnavailableError,
    "unavailable": LLMUnavailableError,
    "timeout": LLMUnavailableError,
    "drop": LLMUnavailableError,
    "truncated": LLMTruncatedError,
    "malformed_json": LLMInvalidOutputError,
    "code_fence": RIGHT,
    "slow": RIGHT,
    "wrong_ids": {"product_ids": ["X_9100", "X_9101"]},
    "empty_lists": {"product_ids": []},
    "duplicates": {"product_ids": ["P_1", "P_2", "P_1"]},
}


# Every kind on every provider's wire format, except the slow kinds (wall time) beyond openai.
CASES = [(kind, provider) for kind in FAULT_KINDS for provider in sorted(MODELS)
         if provider == "openai" or kind not in ("timeout", "slow")]


@pytest.mark.parametrize("kind,provider", CASES)
def test_each_fault_reaches_the_sdk_as_the_expected_error_or_answer(providers, fake, one_try, provider, kind):
    fake.set_default(Reply(json=RIGHT))
    fake.set_faults(rate=1.0, kinds=[kind], seed=7, timeout_delay=1.5, slow_delay=0.05)
    expected = OUTCOMES[kind]
    if isinstance(expected, dict):
        assert _ask(provider).parsed.model_dump() == expected
    else:
        with pytest.raises(expected):
            _ask(provider)
    [req] = [r for r in fake.requests if r.route == provider]
    assert req.fault == kind
    [row] = LLMQuery.objects.filter(purpose="tests.faults")
    assert row.status in expected_statuses(req), (row.status, row.error)
    if kind == "rate_limit_retry_after":
        assert fake.faults.retry_after == 0.05
    if kind == "timeout":
        assert row.status == "timeout" and row.latency_ms < 1400


def test_retry_after_is_sent_and_honoured(providers, fake, settings):
    settings.LLM_CACHE_ENABLED = False
    fake.set_default(Reply(json=RIGHT))
    fake.set_faults(rate=1.0, kinds=["rate_limit_retry_after"], retry_after=0.2)
    with pytest.raises(LLMUnavailableError):
        _ask("openai")
    reqs = fake.requests_for("openai")
    assert len(reqs) == settings.LLM_MAX_ATTEMPTS
    gaps = [b.received_at - a.received_at for a, b in zip(reqs, reqs[1:])]
    assert min(gaps) >= 0.19  # waited what the provider asked, not the 0.01 s backoff
    assert set(LLMQuery.objects.values_list("status", flat=True)) == {"rate_limited"}


def test_faults_are_seeded_and_only_a_share_of_calls_fails(providers, fake, settings):
    settings.LLM_CACHE_ENABLED = False
    settings.LLM_MAX_ATTEMPTS = 1

    def run(seed):
        fake.reset()
        fake.set_default(Reply(json=RIGHT))
        fake.set_faults(rate=0.3, kinds=["server_error", "code_fence", "empty_lists"], seed=seed)
        for _ in range(40):
            try:
                complete(purpose="tests.share", prompt="Pick.", provider="openai", model="gpt-4o-mini", schema=Picks,
                         validation_retries=0)
            except LLMUnavailableError:
                pass
        return [r.fault for r in fake.requests_for("openai")]

    first, again, other = run(3), run(3), run(4)
    assert first == again != other
    assert 6 <= sum(1 for f in first if f) <= 20
    kinds = {f for f in first if f}
    assert len(kinds) >= 2 and kinds <= {"server_error", "code_fence", "empty_lists"}


def test_the_corrupt_hook_lets_a_pipeline_define_its_wrong_answers(providers, fake, settings):
    settings.LLM_CACHE_ENABLED = False
    fake.set_default(Reply(json=RIGHT))
    fake.set_faults(rate=1.0, kinds=["wrong_ids"], corrupt=lambda kind, value, req: {"product_ids": ["P_404"]})
    assert _ask("openai").parsed.product_ids == ["P_404"]


def test_default_corruptions_keep_the_shape():
    answer = {"segments": [{"name": "A", "merged_ids": ["T_1", "T_2"]}], "assignments": [{"product_id": "P_1", "n": 1}]}
    wrong = corrupt_json("wrong_ids", answer)
    assert wrong["segments"][0]["merged_ids"] != ["T_1", "T_2"] and wrong["assignments"][0]["product_id"] != "P_1"
    assert wrong["segments"][0]["name"] == "A" and wrong["assignments"][0]["n"] == 1
    assert corrupt_json("empty_lists", answer) == {"segments": [], "assignments": []}
    assert len(corrupt_json("duplicates", answer)["assignments"]) == 2


def test_bad_fault_settings_are_refused(fake):
    with pytest.raises(ValueError, match="unknown fault kinds"):
        fake.set_faults(rate=0.5, kinds=["meteor"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        fake.set_faults(rate=1.5)


def test_faults_can_be_set_from_another_process(fake):
    from llm.testing.fake_provider import set_faults_remote

    set_faults_remote(fake.url, rate=0.5, kinds=["drop", "slow"], seed=9, slow_delay=0.1)
    assert fake.faults.rate == 0.5 and fake.faults.kinds == ("drop", "slow") and fake.faults.slow_delay == 0.1
    set_faults_remote(fake.url, rate=0)
    assert fake.faults is None


def test_the_command_line_refuses_a_bad_fault_rate(capsys):
    from llm.testing.fake_provider import main

    with pytest.raises(SystemExit):
        main(["--port", "0", "--fault-rate", "1.5"])
    assert "between 0 and 1" in capsys.readouterr().err
