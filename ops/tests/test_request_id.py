"""One user action, one request id: from the web request into its tasks, their LLM call rows and the logs."""

import io
import json
import logging
import re

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory

from llm.models import LLMQuery
from ops import context
from ops.celery_signals import add_request_id_header, enter_task, leave_task
from ops.logging import JsonFormatter, RequestIdFilter, TextFormatter
from ops.middleware import RequestIdMiddleware

HEX32 = re.compile(r"^[0-9a-f]{32}$")


# --- the middleware ---------------------------------------------------------------------------

def test_it_gives_a_request_without_an_id_a_fresh_one(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert HEX32.match(first) and HEX32.match(second) and first != second


def test_it_keeps_a_safe_incoming_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.9C_21-xyz"})
    assert response["X-Request-ID"] == "lb-7f3a.9C_21-xyz"


@pytest.mark.parametrize("unsafe", ["short", "x" * 65, "has spaces in it", "quote\"s-and-more", "semi;colon-here",
                                    "<script>alert(1)</script>", "ünïcödé-ids-here"])
def test_it_replaces_an_unsafe_incoming_id(client, unsafe):
    response = client.get("/healthz", headers={"X-Request-ID": unsafe})
    assert HEX32.match(response["X-Request-ID"]), response["X-Request-ID"]


def test_the_id_is_set_for_the_view_and_cleared_after():
    seen = {}

    def view(request):
        seen["attr"], seen["context"] = request.request_id, context.current_request_id()
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(RequestFactory().get("/x", headers={"X-Request-ID": "abcdefgh-1234"}))
    assert seen == {"attr": "abcdefgh-1234", "context": "abcdefgh-1234"}
    assert response["X-Request-ID"] == "abcdefgh-1234"
    assert context.current_request_id() == ""


def test_the_id_is_cleared_even_when_the_view_raises():
    def view(request):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        RequestIdMiddleware(view)(RequestFactory().get("/x"))
    assert context.current_request_id() == ""


# --- Celery signals (in process; the real worker is below) -----------------------------------

class _Task:
    name = "tests.fake_task"

    def __init__(self, **request):
        self.request = type("Request", (), request)()


def test_publishing_puts_the_current_id_into_the_message_headers():
    headers = {}
    add_request_id_header(headers=headers)
    assert headers == {}  # nothing to carry outside a request
    token = context.set_request_id("web-request-0001")
    try:
        add_request_id_header(headers=headers)
    finally:
        context.reset_request_id(token)
    assert headers == {"request_id": "web-request-0001"}


def test_a_task_takes_the_id_from_its_message_and_gives_it_back_after():
    enter_task(task_id="t-1", task=_Task(request_id="web-request-0002"))
    assert context.current_request_id() == "web-request-0002"
    assert context.current_task() == ("t-1", "tests.fake_task")
    headers = {}
    add_request_id_header(headers=headers)  # a task started by this task keeps the id
    assert headers == {"request_id": "web-request-0002"}
    leave_task(task_id="t-1")
    assert context.current_request_id() == "" and context.current_task() == ("", "")


def test_a_task_without_an_id_or_with_a_forged_one_gets_a_fresh_one():
    for task in (_Task(), _Task(request_id="bad id\nINJECTED")):
        enter_task(task_id="t-2", task=task)
        assert HEX32.match(context.current_request_id())
        leave_task(task_id="t-2")
        assert context.current_request_id() == ""


# --- log formatting -----------------------------------------------------------------------------

def _logger(formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(f"tests.ops.{id(stream)}")
    logger.handlers, logger.propagate, logger.level = [handler], False, logging.DEBUG
    return logger, stream


def test_json_lines_parse_and_carry_the_request_and_task():
    logger, stream = _logger(JsonFormatter())
    logger.info("outside")
    token, task_token = context.set_request_id("req-json-0001"), context.set_task("task-9", "llm.tasks.run_llm_job")
    try:
        logger.warning("job %s done", 42, extra={"job_id": 42, "status": "ok"})
        try:
            raise ValueError("multi\nline")
        except ValueError:
            logger.exception("failed")
    finally:
        context.reset_task(task_token)
        context.reset_request_id(token)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # the traceback's newlines stay inside its JSON string
    outside, done, failed = (json.loads(line) for line in lines)
    assert outside["request_id"] == "" and "task_id" not in outside
    assert done["message"] == "job 42 done" and done["level"] == "WARNING" and done["logger"] == logger.name
    assert done["request_id"] == "req-json-0001"
    assert (done["task_id"], done["task_name"]) == ("task-9", "llm.tasks.run_llm_job")
    assert done["job_id"] == 42 and done["status"] == "ok"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", done["time"])
    assert "ValueError: multi\nline" in failed["exc_info"] and failed["request_id"] == "req-json-0001"


def test_log_lines_never_carry_secrets():
    logger, stream = _logger(JsonFormatter())
    logger.error("provider said no: Authorization: Bearer sk-proj-abcdef1234567890 (x-api-key: sk-ant-api03-zyxw98765)",
                 extra={"api_key": "sk-live-1", "headers": {"Authorization": "Bearer abc", "accept": "json"},
                        "input_tokens": 12, "cache_key": "ab12"})
    logger.info("GET https://generativelanguage.example/v1/models?key=AIzaSyA-secret-123&alt=json")
    text = stream.getvalue()
    for secret in ("abcdef1234567890", "zyxw98765", "sk-live-1", "Bearer abc", "AIzaSyA-secret-123"):
        assert secret not in text
    first = json.loads(text.splitlines()[0])
    assert first["api_key"] == "[redacted]" and first["headers"] == {"Authorization": "[redacted]", "accept": "json"}
    assert first["input_tokens"] == 12 and first["cache_key"] == "ab12"  # not secrets, despite their names
    assert "alt=json" in text  # the rest of the line survives


def test_djangos_own_request_lines_get_the_id_of_their_request(client):
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logging.getLogger("django.request").addHandler(handler)
    try:
        response = client.get("/no-such-page/", headers={"X-Request-ID": "lost-page-0001"})
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    assert response.status_code == 404
    line = json.loads(handler.stream.getvalue().splitlines()[0])  # logged after the middleware returned
    assert line["logger"] == "django.request" and line["request_id"] == "lost-page-0001"


def test_text_lines_show_the_request_id_when_there_is_one():
    logger, stream = _logger(TextFormatter("%(levelname)s %(name)s%(request_tag)s: %(message)s"))
    logger.info("before")
    token = context.set_request_id("req-text-0001")
    try:
        logger.info("during")
    finally:
        context.reset_request_id(token)
    assert stream.getvalue().splitlines() == [f"INFO {logger.name}: before", f"INFO {logger.name} [req-text-0001]: during"]


# --- LLM call rows: stamped, shown, found ------------------------------------------------------

def _call_under(request_id: str, user) -> int:
    from llm.calls import complete

    token = context.set_request_id(request_id)
    try:
        return complete(purpose="tests.request_id", prompt=f"hi from {request_id}", provider="openai",
                        model="gpt-4o-mini", user=user).query_id
    finally:
        context.reset_request_id(token)


@pytest.mark.django_db
def test_call_rows_carry_the_request_id_and_staff_can_find_them(client, providers, owner, django_user_model):
    mine, other = _call_under("action-aaaa-0001", owner), _call_under("action-bbbb-0002", owner)
    assert LLMQuery.objects.get(pk=mine).request_id == "action-aaaa-0001"

    client.force_login(owner)
    detail = client.get(f"/llm/calls/{mine}/").content.decode()
    assert "action-aaaa-0001" in detail and "/admin/llm/llmquery/?request_id=" not in detail  # no admin link for non-staff

    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-123"))
    assert "/admin/llm/llmquery/?request_id=action-aaaa-0001" in client.get(f"/llm/calls/{mine}/").content.decode()
    for url in ("/admin/llm/llmquery/?request_id=action-aaaa-0001", "/admin/llm/llmquery/?q=action-aaaa-0001"):
        page = client.get(url).content.decode()
        assert f"/admin/llm/llmquery/{mine}/change/" in page, url
        assert f"/admin/llm/llmquery/{other}/change/" not in page, url


# --- end to end, with a real worker ---------------------------------------------------------------

def _json_lines(path) -> list[dict]:
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_playground_request_id_reaches_the_workers_llm_call_and_log(owner_client, providers, celery_workers):
    from conftest import wait_until
    from llm.models import LLMJob

    worker = celery_workers.start("rid", env={"LOG_FORMAT": "json"})
    response = owner_client.post("/llm/prompt/", {"provider": providers["openai"].pk, "model_name": "gpt-4o-mini",
                                                  "prompt": "Say hi"})
    assert response.status_code == 302
    request_id = response["X-Request-ID"]
    assert HEX32.match(request_id)

    job = LLMJob.objects.get()
    wait_until(lambda: LLMJob.objects.get(pk=job.pk).status in ("completed", "failed"), [worker], "the job to finish", 40)
    job.refresh_from_db()
    assert job.status == "completed", job.error
    assert LLMQuery.objects.get(pk=job.query_id).request_id == request_id
    wait_until(lambda: any(line.get("request_id") == request_id for line in _json_lines(worker.log_path)), [worker],
               "a worker log line with the request id", 10)
    mine = [line for line in _json_lines(worker.log_path) if line.get("request_id") == request_id]
    assert {line["task_name"] for line in mine} == {"llm.tasks.run_llm_job"}
    assert all(line["task_id"] for line in mine)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_batches_started_by_batches_keep_the_id_down_to_the_last_call(owner, fake, providers, celery_workers, settings):
    from conftest import wait_until
    from segmentation import pipeline
    from segmentation.models import SegmentationRun
    from segmentation.tasks import enqueue
    from segmentation.tests.fakes import answer, make_products, request_parts
    from llm.testing.fake_provider import Reply

    # Small batches and groups, several threads: extract -> consolidate (threaded) -> refine.
    sizes = {"SEGMENTATION_PRODUCTS_PER_PROMPT": 10, "SEGMENTATION_TAXONOMIES_PER_CONSOLIDATION": 2,
             "SEGMENTATION_CONCURRENCY": 4}
    for name, value in sizes.items():
        setattr(settings, name, value)
    fake.set_default(lambda req: Reply(json=answer(*request_parts(req))))
    worker = celery_workers.start("chain", env={name: str(v) for name, v in sizes.items()})

    token = context.set_request_id("segment-run-0001")  # as the web request that starts the run would
    try:
        with transaction.atomic():
            run = pipeline.start_run(owner=owner, product_ids=make_products(30), category="Dimmer Switches",
                                     provider="openai", model="gpt-4o-mini")
            enqueue(pipeline.pending_batches(run.pk))
    finally:
        context.reset_request_id(token)
    wait_until(lambda: SegmentationRun.objects.get(pk=run.pk).status in ("completed", "failed"), [worker],
               "the run to finish", 60)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    calls = LLMQuery.objects.filter(run_id=run.pk)
    stages = set(calls.values_list("interaction_type", flat=True))
    assert len(stages) >= 3, stages  # the id crossed at least two task-to-task hand-overs
    assert set(calls.values_list("request_id", flat=True)) == {"segment-run-0001"}
