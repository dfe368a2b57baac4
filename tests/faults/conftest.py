"""Shared pieces of the fault suite: worker settings for fast faulty runs and the log audit."""

import pytest

from llm.models import LLMQuery
from llm.testing.fake_provider import expected_statuses

TEXT_ROUTES = ("openai", "anthropic", "gemini")
MAX_ATTEMPTS = 4  # transport attempts per call (LLM_MAX_ATTEMPTS in the workers)
VALIDATION_RETRIES = 1  # re-asks after invalid output (LLM_VALIDATION_RETRIES)
CLIENT_TIMEOUT = 1.0  # seconds the SDKs wait (LLM_REQUEST_TIMEOUT); "timeout" faults answer after 2 s
FAULTS = dict(rate=0.3, seed=20261123, timeout_delay=2.0, slow_delay=0.2)

WORKER_ENV = {
    "LLM_REQUEST_TIMEOUT": str(CLIENT_TIMEOUT),
    "LLM_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "LLM_VALIDATION_RETRIES": str(VALIDATION_RETRIES),
    "LLM_RETRY_INITIAL_DELAY": "0.01",
    "LLM_RETRY_MAX_DELAY": "0.05",
    "LLM_MAX_RETRY_AFTER": "0.2",
}


def _matching(requests, rows) -> int:
    """Size of the largest pairing of requests with rows whose status the request's fault explains."""
    allowed = [expected_statuses(r) for r in requests]
    row_of_req: dict[int, int] = {}
    req_of_row: dict[int, int] = {}

    def augment(i: int, seen: set) -> bool:
        for j, row in enumerate(rows):
            if j in seen or row.status not in allowed[i]:
                continue
            seen.add(j)
            if j not in req_of_row or augment(req_of_row[j], seen):
                row_of_req[i], req_of_row[j] = j, i
                return True
        return False

    return sum(1 for i in range(len(requests)) if augment(i, set()))


def audit_log(fake, rows=None, *, min_fault_kinds: int = 3) -> dict:
    """Every request the fake saw is one LLMQuery row whose status matches the injected fault,
    no row is left "started", and no call went past its attempt bound. Returns fault counts."""
    requests = [r for r in fake.requests if r.route in TEXT_ROUTES]
    rows = list((rows if rows is not None else LLMQuery.objects.all()).exclude(status="cache_hit").order_by("pk"))
    assert len(rows) == len(requests), f"{len(rows)} logged attempts for {len(requests)} provider requests"
    assert not [r.pk for r in rows if r.status == "started"], "attempt rows left unfinished"
    bound = MAX_ATTEMPTS * (VALIDATION_RETRIES + 1)
    assert max(r.attempt for r in rows) <= bound, "a call retried past its bound"
    matched = _matching(requests, rows)
    if matched < len(requests):
        statuses = sorted((str(r.fault), row.status) for r, row in zip(requests, rows))
        pytest.fail(f"only {matched} of {len(requests)} attempts have the status their fault explains: {statuses}")
    counts = fake.faults_injected()
    faulty = sum(n for kind, n in counts.items() if kind)
    assert faulty >= 0.15 * len(requests), counts
    assert len([k for k in counts if k]) >= min_fault_kinds, counts
    return counts


@pytest.fixture
def celery_workers(celery_workers):
    """The root pool, but its workers are killed at the end instead of a warm shutdown (seconds each):
    every run of this suite has finished by then, and its queues are the test's own."""
    yield celery_workers
    for proc, _log in celery_workers.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def faulty_workers(celery_workers):
    """Start a worker (-P solo) with short timeouts and small retry bounds."""

    def start(name: str = "w1", env: dict | None = None, **kwargs):
        return celery_workers.start(name, env={**WORKER_ENV, **(env or {})}, **kwargs)

    start.pool = celery_workers
    return start
