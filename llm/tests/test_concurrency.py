"""max_concurrent: requests in flight per model, capped across threads and processes through Redis."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from llm.calls import concurrency
from llm.errors import LLMRequestRejected, RateLimitTimeout
from llm.models import LLMModel, LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import Reply

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_gates():
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for key in client.scan_iter("llm:cc:*"):
        client.delete(key)
    concurrency._local_gates.clear()
    yield client
    for key in client.scan_iter("llm:cc:*"):
        client.delete(key)
    concurrency._local_gates.clear()


def _limit(n):
    from llm import definitions

    LLMModel.objects.filter(provider__name="openai", name="gpt-4o-mini").update(max_concurrent=n)
    definitions.forget()  # update() sends no signal


def _model():
    return LLMModel.objects.select_related("provider").get(provider__name="openai", name="gpt-4o-mini")


def _call_in_threads(n, tag):
    errors = []

    def one(i):
        try:
            complete(purpose="tests.cc", prompt=f"{tag}-{i}", provider="openai", model="gpt-4o-mini", cache=False)
        except Exception as exc:  # reported below, with the thread's view
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("redis_url", ["redis", ""], ids=["redis", "in-process"])
def test_threads_never_have_more_requests_in_flight_than_the_limit(providers, fake, settings, fresh_gates, redis_url):
    settings.REDIS_URL = os.environ["REDIS_URL"] if redis_url else ""
    fake.set_default(Reply(text="ok", delay=0.15))
    _call_in_threads(6, "free")
    unlimited_peak = fake.peak_in_flight
    fake.reset()
    fake.set_default(Reply(text="ok", delay=0.15))
    _limit(2)
    started = time.monotonic()
    _call_in_threads(6, "capped")
    elapsed = time.monotonic() - started
    assert unlimited_peak >= 3  # without the limit these calls do overlap: the cap below is the gate's doing
    assert fake.peak_in_flight == 2
    assert len(fake.requests) == 6 and elapsed >= 3 * 0.15
    assert LLMQuery.objects.filter(purpose="tests.cc", status=LLMQuery.Status.OK).count() == 12
    if redis_url:
        assert fresh_gates.zcard(concurrency.key_for(_model())) == 0  # every lease was given back


@pytest.mark.django_db
def test_a_failed_call_gives_its_place_back(providers, fake, fresh_gates):
    _limit(1)
    fake.script(Reply(status=400, error_message="bad request"), route="openai")
    with pytest.raises(LLMRequestRejected):
        complete(purpose="tests.cc", prompt="fails", provider="openai", model="gpt-4o-mini", cache=False)
    assert fresh_gates.zcard(concurrency.key_for(_model())) == 0
    started = time.monotonic()
    assert complete(purpose="tests.cc", prompt="next", provider="openai", model="gpt-4o-mini", cache=False).text
    assert time.monotonic() - started < 2


@pytest.mark.django_db
@pytest.mark.parametrize("redis_url", ["redis", ""], ids=["redis", "in-process"])
def test_waiting_for_a_place_is_bounded_with_a_clear_error(providers, fake, settings, fresh_gates, redis_url):
    settings.REDIS_URL = os.environ["REDIS_URL"] if redis_url else ""
    settings.LLM_RATE_LIMIT_MAX_WAIT = 0.3
    _limit(1)
    held = concurrency.acquire(_model())  # a call of another worker, still waiting for its answer
    try:
        with pytest.raises(RateLimitTimeout, match=r"1 requests in flight \(its max_concurrent\).*raise max_concurrent"):
            complete(purpose="tests.cc", prompt="waits", provider="openai", model="gpt-4o-mini", cache=False)
    finally:
        held.release()
    assert not fake.requests
    row = LLMQuery.objects.get(purpose="tests.cc")
    assert row.status == LLMQuery.Status.RATE_LIMITED and "max_concurrent" in row.error
    assert complete(purpose="tests.cc", prompt="now", provider="openai", model="gpt-4o-mini", cache=False).text


@pytest.mark.django_db
def test_no_limit_takes_no_lease(providers, fake, fresh_gates):
    complete(purpose="tests.cc", prompt="free", provider="openai", model="gpt-4o-mini", cache=False)
    assert not list(fresh_gates.scan_iter("llm:cc:*"))


WORKER = """
import os, sys, threading, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.db import connection
from llm.calls.service import complete
tag, threads = sys.argv[1], int(sys.argv[2])
def one(i):
    complete(purpose="tests.cc2", prompt=f"{tag}-{i}", provider="openai", model="gpt-4o-mini", cache=False)
    connection.close()
ts = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
"""


def _worker_env(tmp_path):
    db = connection.settings_dict
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OPENAI_API_KEY": "sk-cc", "STORAGE_ROOT": str(tmp_path), "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"}
    return script, env


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_limit(providers, fake, fresh_gates, tmp_path):
    _limit(2)
    fake.set_default(Reply(text="ok", delay=0.2))
    script, env = _worker_env(tmp_path)
    procs = [subprocess.Popen([sys.executable, str(script), tag, "3"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
             for tag in ("A", "B")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    assert len(fake.requests_for("openai")) == 6
    assert fake.peak_in_flight == 2
    assert fresh_gates.zcard(concurrency.key_for(_model())) == 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_call_does_not_keep_its_place(providers, fake, fresh_gates, tmp_path, settings):
    settings.LLM_RATE_LIMIT_MAX_WAIT = 20
    _limit(1)
    fake.set_default(Reply(text="slow", delay=3))
    script, env = _worker_env(tmp_path)
    proc = subprocess.Popen([sys.executable, str(script), "killed", "1"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while fake.in_flight < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.in_flight == 1, "the worker's call never reached the provider"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    key = concurrency.key_for(_model())
    assert fresh_gates.zcard(key) == 1  # its lease is still there: nobody gave it back
    fake.set_default(Reply(text="ok"))
    started = time.monotonic()
    assert complete(purpose="tests.cc", prompt="after", provider="openai", model="gpt-4o-mini", cache=False).text
    assert time.monotonic() - started < 5  # the dead holder's lease was reaped, not waited out
    assert fresh_gates.zcard(key) == 0
    while fake.in_flight and time.monotonic() - started < 10:  # the killed call's answer, sent to nobody
        time.sleep(0.05)


def test_a_lease_of_another_host_is_left_alone(fresh_gates, settings):
    key = f"llm:cc:test:{uuid.uuid4().hex}"
    fresh_gates.zadd(key, {f"other-host:{os.getpid() + 999999}:x": time.time() + 60,
                           f"{concurrency._HOST}:{os.getpid()}:y": time.time() + 60})
    assert concurrency.reap_dead_holders(fresh_gates, key) == 0
    assert fresh_gates.zcard(key) == 2
