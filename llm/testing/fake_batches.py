"""The three provider batch APIs, for the fake provider server (llm/testing/fake_provider.py).

Each request in a batch is answered by the same builders, scripts and default responder as an
interactive call on its route ("openai", "anthropic", "gemini"), so a batch answer and an
interactive one have the same shape. Recorded with ``path`` "<batch path>#<custom_id>".

Shapes, with where they come from:

* OpenAI (openai-python ``src/openai/types/batch.py``, ``batch_request_counts.py``,
  ``file_object.py``, ``resources/batches.py``, ``resources/files.py``; output/error file lines
  from https://platform.openai.com/docs/guides/batch): ``POST /v1/files`` (multipart, purpose
  ``batch``) -> FileObject; ``POST /v1/batches`` -> Batch (``status: "validating"``);
  ``GET /v1/batches/{id}`` -> in_progress, then completed/expired/cancelled with
  ``output_file_id`` / ``error_file_id`` and ``request_counts {total, completed, failed}``;
  ``POST /v1/batches/{id}/cancel``; ``GET /v1/batches`` (list with ``data``, ``has_more``);
  ``GET /v1/files/{id}/content`` -> JSONL lines ``{"id", "custom_id", "response": {"status_code",
  "request_id", "body"}, "error"}`` (errors: ``response`` null and ``error {"code": "batch_expired",
  "message"}``).
* Anthropic (anthropic-sdk-python ``src/anthropic/types/messages/message_batch.py``,
  ``message_batch_request_counts.py``, ``message_batch_individual_response.py``,
  ``message_batch_*_result.py``, ``resources/messages/batches.py``): ``POST /v1/messages/batches``
  -> MessageBatch (``processing_status: "in_progress"``, ``request_counts`` with processing,
  succeeded, errored, canceled, expired; ``results_url`` once ended);
  ``GET /v1/messages/batches/{id}``, ``POST …/cancel`` (``canceling``), ``GET …/results`` (JSONL
  of ``{"custom_id", "result": {"type": "succeeded", "message"} | {"type": "errored", "error":
  {"type": "error", "error": {…}}} | {"type": "expired"} | {"type": "canceled"}}``).
* Gemini (python-genai ``google/genai/batches.py`` ``_CreateBatchJobParameters_to_mldev``,
  ``_BatchJob_from_mldev``, ``_InlinedResponse_from_mldev``, ``_transformers.t_job_state``, and
  ``google/genai/tests/batches/test_create_with_inlined_requests.py``):
  ``POST /v1beta/models/{model}:batchGenerateContent`` with ``batch.inputConfig.requests.requests[]
  {request, metadata}`` -> an operation ``{"name": "batches/…", "metadata": {"@type", "name",
  "displayName", "model", "state": "BATCH_STATE_PENDING", "createTime", "updateTime",
  "batchStats"}}``; ``GET /v1beta/batches/{id}`` -> the same, ``BATCH_STATE_SUCCEEDED`` with
  ``metadata.output.inlinedResponses.inlinedResponses[] {response | error, metadata}`` in request
  order; ``POST /v1beta/batches/{id}:cancel``; ``GET /v1beta/batches`` (``operations``).

Faults (``server.set_batch_faults(...)``): ``polls_to_complete`` (slow completion: the batch stays
in progress for that many status polls), ``expire`` (the batch ends expired with only the first
half of its requests answered), ``fail_every`` (every n-th request fails with a server error,
the rest succeed: partial failure), ``reject`` (the create call fails with this HTTP status),
``retrieve_delay`` (an OpenAI status poll hangs that long: a worker killed mid-poll).
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

_GEMINI_BATCH_CREATE = re.compile(r"^/(v1beta|v1|v1alpha)/models/([^/:]+):batchGenerateContent$")
_GEMINI_BATCH = re.compile(r"^/(v1beta|v1|v1alpha)/batches/([^/:]+)(:cancel)?$")
_GEMINI_BATCH_LIST = re.compile(r"^/(v1beta|v1|v1alpha)/batches$")


@dataclass
class BatchFaults:
    polls_to_complete: int = 0
    expire: bool = False
    fail_every: int = 0
    reject: int = 0
    retrieve_delay: float = 0.0  # a status poll waits this long (read live): a worker can be killed mid-poll


@dataclass
class FakeBatch:
    provider: str
    id: str
    model: str
    requests: list[tuple[str, dict]]  # (custom_id, body as the interactive route takes it)
    created: float
    faults: BatchFaults
    marker: str = ""  # OpenAI metadata / Gemini display name
    input_file_id: str = ""
    status: str = "in_progress"  # in_progress, cancelling, completed, expired, cancelled
    polls: int = 0
    results: list[tuple[str, str, Any]] = field(default_factory=list)  # (custom_id, kind, payload)
    output_file_id: str = ""
    error_file_id: str = ""
    ended: float | None = None
    cancel_requested: bool = False


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class BatchStore:
    """The fake's batches and files (all in memory, under one lock)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # held across a whole poll, which makes ids for its result files
        self.batches: dict[str, FakeBatch] = {}
        self.files: dict[str, dict] = {}
        self.faults = BatchFaults()
        self.counter = 0
        self.retrieves_waiting = 0
        # Set by reset(): status polls still hanging (a killed worker's) stop waiting, so none of them
        # outlives its test and counts as the next test's retrieves_waiting.
        self.release = threading.Event()

    def reset(self) -> None:
        with self.lock:
            self.batches.clear()
            self.files.clear()
            self.faults = BatchFaults()
            self.release.set()
            self.release = threading.Event()

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self.counter += 1
            return f"{prefix}{self.counter:06d}{int(time.time() * 1000) % 100000:05d}"


def handles(method: str, path: str) -> bool:
    return (
        path == "/v1/files" or path.startswith("/v1/files/") or path == "/v1/batches" or path.startswith("/v1/batches/")
        or path == "/v1/messages/batches" or path.startswith("/v1/messages/batches/")
        or bool(_GEMINI_BATCH_CREATE.match(path) or _GEMINI_BATCH.match(path) or _GEMINI_BATCH_LIST.match(path))
    )


def dispatch(handler, method: str, path: str, raw: bytes, body: Any, query: dict) -> None:
    """Answer one batch-API request on ``handler`` (the fake's request handler)."""
    store: BatchStore = handler.fake.batch_store
    if method == "GET" and store.faults.retrieve_delay and re.match(r"^/v1/batches/[^/]+$", path):
        with store.lock:
            store.retrieves_waiting += 1
            release, deadline = store.release, time.monotonic() + store.faults.retrieve_delay
        try:
            while time.monotonic() < deadline and not release.is_set():
                if handler.fake._stopping.wait(0.05):
                    handler._drop()
                    break
        finally:
            with store.lock:
                store.retrieves_waiting -= 1
    google = any(h.lower().startswith("x-goog-") for h in handler.headers.keys())
    if google or _GEMINI_BATCH_CREATE.match(path) or path.startswith(("/v1beta/", "/v1alpha/")):
        return _gemini(handler, store, method, path, body)
    if path.startswith("/v1/messages/batches"):
        return _anthropic(handler, store, method, path, body)
    if path.startswith("/v1/files") or path.startswith("/v1/batches"):
        return _openai(handler, store, method, path, raw, body, query)
    return _openai_error(handler, 404, f"fake provider: no batch route for {method} {path}")


# --------------------------------------------------------------------------- #
# Answering the requests of a batch, through the interactive builders
# --------------------------------------------------------------------------- #
def _answer_all(handler, batch: FakeBatch) -> None:
    """Run every request (or, expired, the first half) and keep the results on the batch."""
    n = len(batch.requests)
    run = n if not batch.faults.expire else n // 2
    for i, (custom_id, body) in enumerate(batch.requests):
        if batch.cancel_requested and i >= run // 2:
            batch.results.append((custom_id, "canceled", None))
            continue
        if i >= run:
            batch.results.append((custom_id, "expired", None))
            continue
        if batch.faults.fail_every and (i + 1) % batch.faults.fail_every == 0:
            batch.results.append((custom_id, "errored", {"status": 500, "message": "The server had an error processing this request."}))
            continue
        # Recorded by the server like any request (this module never imports fake_provider: it is
        # the server's plug-in).
        req = handler.fake.record_batch_request(batch.provider, f"/batch/{batch.id}#{custom_id}", body)
        reply = handler.fake._maybe_fault(req, handler.fake._next_reply(req))
        if reply.status != 200 or reply.drop or reply.raw_body is not None:
            batch.results.append((custom_id, "errored", {"status": reply.status if reply.status != 200 else 500,
                                                         "message": reply.error_message}))
            continue
        if reply.body is not None:
            batch.results.append((custom_id, "succeeded", reply.body))
            continue
        builder = {"openai": handler._openai_chat, "anthropic": handler._anthropic_messages,
                   "gemini": handler._gemini_generate}[batch.provider]
        status, obj, _ = builder(req, reply, {"model": batch.model, "action": "generateContent"})
        batch.results.append((custom_id, "succeeded", obj))
    batch.ended = time.time()


def _advance(handler, store: BatchStore, batch: FakeBatch) -> None:
    """One status poll: slow batches stay in progress for ``polls_to_complete`` polls."""
    if batch.status not in ("in_progress", "cancelling"):
        return
    batch.polls += 1
    if batch.status == "in_progress" and batch.polls <= batch.faults.polls_to_complete:
        return
    _answer_all(handler, batch)
    if batch.status == "cancelling" or batch.cancel_requested:
        batch.status = "cancelled"
    elif batch.faults.expire:
        batch.status = "expired"
    else:
        batch.status = "completed"


def _counts(batch: FakeBatch) -> dict[str, int]:
    kinds = [k for _, k, _ in batch.results]
    return {k: kinds.count(k) for k in ("succeeded", "errored", "expired", "canceled")}


# --------------------------------------------------------------------------- #
# OpenAI
# --------------------------------------------------------------------------- #
def _openai_batch(batch: FakeBatch) -> dict:
    counts = _counts(batch)
    done = batch.ended is not None
    return {
        "id": batch.id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
        "input_file_id": batch.input_file_id, "completion_window": "24h",
        "status": "validating" if batch.polls == 0 and batch.status == "in_progress" else batch.status,
        "output_file_id": batch.output_file_id or None, "error_file_id": batch.error_file_id or None,
        "created_at": int(batch.created), "in_progress_at": int(batch.created), "expires_at": int(batch.created + 86400),
        "finalizing_at": int(batch.ended) if done else None,
        "completed_at": int(batch.ended) if batch.status == "completed" else None, "failed_at": None,
        "expired_at": int(batch.ended) if batch.status == "expired" else None,
        "cancelling_at": None, "cancelled_at": int(batch.ended) if batch.status == "cancelled" else None,
        "request_counts": {"total": len(batch.requests), "completed": counts["succeeded"],
                           "failed": len(batch.results) - counts["succeeded"] if done else 0},
        "metadata": {"llm_batch": batch.marker} if batch.marker else None, "model": batch.model,
    }


def _openai_files(store: BatchStore, batch: FakeBatch) -> None:
    out, err = [], []
    for custom_id, kind, payload in batch.results:
        line_id = f"batch_req_{custom_id[:20]}"
        if kind == "succeeded":
            out.append({"id": line_id, "custom_id": custom_id, "error": None,
                        "response": {"status_code": 200, "request_id": f"req_{custom_id[:16]}", "body": payload}})
        elif kind == "errored":
            err.append({"id": line_id, "custom_id": custom_id, "error": None, "response": {
                "status_code": payload["status"], "request_id": f"req_{custom_id[:16]}",
                "body": {"error": {"message": payload["message"], "type": "server_error", "param": None, "code": None}}}})
        else:
            code = "batch_expired" if kind == "expired" else "batch_cancelled"
            err.append({"id": line_id, "custom_id": custom_id, "response": None, "error": {
                "code": code, "message": "This request could not be executed before the completion window expired."
                if kind == "expired" else "This request was cancelled."}})
    for lines, attr in ((out, "output_file_id"), (err, "error_file_id")):
        if lines:
            file_id = store.next_id("file-")
            data = "".join(json.dumps(line) + "\n" for line in lines).encode()
            store.files[file_id] = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                                    "filename": f"{batch.id}_{attr.split('_')[0]}.jsonl", "purpose": "batch_output",
                                    "status": "processed", "data": data}
            setattr(batch, attr, file_id)


def _openai_error(handler, status: int, message: str, code: str | None = None) -> None:
    handler._send_json(status, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}})


def _openai(handler, store, method, path, raw, body, query) -> None:
    if method == "POST" and path == "/v1/files":
        ctype = handler.headers.get("Content-Type", "")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        fields, data, filename = {}, b"", "upload.jsonl"
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "file":
                data, filename = part.get_payload(decode=True) or b"", part.get_filename() or filename
            elif name:
                fields[name] = part.get_content().strip()
        if fields.get("purpose") != "batch":
            return _openai_error(handler, 400, f"purpose must be batch for this fake, not {fields.get('purpose')!r}")
        file_id = store.next_id("file-")
        obj = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()), "filename": filename,
               "purpose": "batch", "status": "processed", "expires_at": None, "status_details": None}
        store.files[file_id] = {**obj, "data": data}
        return handler._send_json(200, obj)
    m = re.match(r"^/v1/files/([^/]+)(/content)?$", path)
    if m and method == "GET":
        f = store.files.get(m.group(1))
        if f is None:
            return _openai_error(handler, 404, f"No such File object: {m.group(1)}")
        if m.group(2):
            return handler._send(200, f["data"], content_type="application/octet-stream")
        return handler._send_json(200, {k: v for k, v in f.items() if k != "data"})
    if method == "POST" and path == "/v1/batches":
        body = body or {}
        if store.faults.reject:
            return _openai_error(handler, store.faults.reject, "The batch was rejected (fake fault).")
        f = store.files.get(body.get("input_file_id") or "")
        if f is None:
            return _openai_error(handler, 400, f"Invalid input_file_id {body.get('input_file_id')!r}")
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return _openai_error(handler, 400, "endpoint must be /v1/chat/completions and completion_window 24h")
        lines = [json.loads(line) for line in f["data"].splitlines() if line.strip()]
        if len(lines) > 50_000 or len(f["data"]) > 200 * 1024 * 1024:
            return _openai_error(handler, 400, "A batch input file holds at most 50,000 requests and 200 MB.")
        models = {line.get("body", {}).get("model") for line in lines}
        ids = [line.get("custom_id") for line in lines]
        if len(models) != 1 or len(set(ids)) != len(ids):
            return _openai_error(handler, 400, "A batch input file needs one model and unique custom_ids.")
        batch = FakeBatch("openai", store.next_id("batch_"), models.pop(), [(l["custom_id"], l["body"]) for l in lines],
                          time.time(), dataclasses.replace(store.faults), marker=(body.get("metadata") or {}).get("llm_batch", ""),
                          input_file_id=f["id"])
        store.batches[batch.id] = batch
        return handler._send_json(200, _openai_batch(batch))
    if method == "GET" and path == "/v1/batches":
        data = [_openai_batch(b) for b in reversed(list(store.batches.values())) if b.provider == "openai"]
        limit = int(query.get("limit") or 20)
        return handler._send_json(200, {"object": "list", "data": data[:limit], "first_id": data[0]["id"] if data else None,
                                        "last_id": data[:limit][-1]["id"] if data else None, "has_more": len(data) > limit})
    m = re.match(r"^/v1/batches/([^/]+)(/cancel)?$", path)
    if m:
        batch = store.batches.get(m.group(1))
        if batch is None or batch.provider != "openai":
            return _openai_error(handler, 404, f"No such batch: {m.group(1)}")
        with store.lock:
            if m.group(2) and method == "POST":
                if batch.status == "in_progress":
                    batch.status, batch.cancel_requested = "cancelling", True
            elif method == "GET":
                before = batch.ended
                _advance(handler, store, batch)
                if before is None and batch.ended is not None:
                    _openai_files(store, batch)
            return handler._send_json(200, _openai_batch(batch))
    return _openai_error(handler, 404, f"fake provider: no batch route for {method} {path}")


# --------------------------------------------------------------------------- #
# Anthropic
# --------------------------------------------------------------------------- #
def _anthropic_batch(handler, batch: FakeBatch) -> dict:
    counts = _counts(batch)
    done = batch.ended is not None
    status = "ended" if done else ("canceling" if batch.status == "cancelling" else "in_progress")
    return {
        "id": batch.id, "type": "message_batch", "processing_status": status,
        "request_counts": {"processing": 0 if done else len(batch.requests), "succeeded": counts["succeeded"],
                           "errored": counts["errored"], "canceled": counts["canceled"], "expired": counts["expired"]},
        "ended_at": _iso(batch.ended) if done else None, "created_at": _iso(batch.created),
        "expires_at": _iso(batch.created + 86400), "archived_at": None,
        "cancel_initiated_at": _iso(batch.created) if batch.cancel_requested else None,
        "results_url": f"{handler.fake.url}/v1/messages/batches/{batch.id}/results" if done else None,
    }


def _anthropic_error(handler, status: int, message: str, etype: str = "invalid_request_error") -> None:
    handler._send_json(status, {"type": "error", "error": {"type": etype, "message": message}, "request_id": "req_fake"})


_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _anthropic(handler, store, method, path, body) -> None:
    if method == "POST" and path == "/v1/messages/batches":
        if store.faults.reject:
            return _anthropic_error(handler, store.faults.reject, "The batch was rejected (fake fault).")
        requests = (body or {}).get("requests") or []
        if not 1 <= len(requests) <= 100_000:
            return _anthropic_error(handler, 400, "requests: a batch holds 1 to 100,000 requests")
        ids = [r.get("custom_id") for r in requests]
        if any(not isinstance(i, str) or not _CUSTOM_ID.match(i) for i in ids) or len(set(ids)) != len(ids):
            return _anthropic_error(handler, 400, "custom_id must match ^[a-zA-Z0-9_-]{1,64}$ and be unique in the batch")
        model = requests[0].get("params", {}).get("model", "")
        batch = FakeBatch("anthropic", store.next_id("msgbatch_"), model, [(r["custom_id"], r["params"]) for r in requests],
                          time.time(), dataclasses.replace(store.faults))
        store.batches[batch.id] = batch
        return handler._send_json(200, _anthropic_batch(handler, batch))
    if method == "GET" and path == "/v1/messages/batches":
        data = [_anthropic_batch(handler, b) for b in reversed(list(store.batches.values())) if b.provider == "anthropic"]
        return handler._send_json(200, {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                                        "last_id": data[-1]["id"] if data else None})
    m = re.match(r"^/v1/messages/batches/([^/]+)(/cancel|/results)?$", path)
    if not m:
        return _anthropic_error(handler, 404, f"fake provider: no batch route for {method} {path}", "not_found_error")
    batch = store.batches.get(m.group(1))
    if batch is None or batch.provider != "anthropic":
        return _anthropic_error(handler, 404, f"No batch {m.group(1)}", "not_found_error")
    with store.lock:
        if m.group(2) == "/cancel" and method == "POST":
            if batch.ended is None:
                batch.status, batch.cancel_requested = "cancelling", True
            return handler._send_json(200, _anthropic_batch(handler, batch))
        if m.group(2) == "/results":
            if batch.ended is None:
                return _anthropic_error(handler, 400, "The batch has not ended yet.")
            lines = []
            for custom_id, kind, payload in batch.results:
                if kind == "succeeded":
                    result = {"type": "succeeded", "message": payload}
                elif kind == "errored":
                    result = {"type": "errored", "error": {"type": "error", "request_id": "req_fake", "error": {
                        "type": "api_error", "message": payload["message"]}}}
                else:
                    result = {"type": kind}
                lines.append(json.dumps({"custom_id": custom_id, "result": result}))
            return handler._send(200, ("\n".join(lines) + "\n").encode(), content_type="application/binary")
        _advance(handler, store, batch)
        return handler._send_json(200, _anthropic_batch(handler, batch))


# --------------------------------------------------------------------------- #
# Gemini
# --------------------------------------------------------------------------- #
_GEMINI_STATE = {"in_progress": "BATCH_STATE_RUNNING", "cancelling": "BATCH_STATE_RUNNING", "completed": "BATCH_STATE_SUCCEEDED",
                 "expired": "BATCH_STATE_EXPIRED", "cancelled": "BATCH_STATE_CANCELLED"}


def _gemini_op(batch: FakeBatch) -> dict:
    counts = _counts(batch)
    state = "BATCH_STATE_PENDING" if batch.polls == 0 and batch.status == "in_progress" else _GEMINI_STATE[batch.status]
    meta = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "name": batch.id, "displayName": batch.marker, "model": f"models/{batch.model}", "state": state,
        "createTime": _iso(batch.created), "updateTime": _iso(batch.ended or batch.created),
        "batchStats": {"requestCount": str(len(batch.requests)), "successfulRequestCount": str(counts["succeeded"]),
                       "failedRequestCount": str(counts["errored"]),
                       "pendingRequestCount": str(len(batch.requests) - len(batch.results))},
    }
    op: dict = {"name": batch.id, "metadata": meta}
    if batch.ended is not None:
        meta["endTime"] = _iso(batch.ended)
        answered = []
        for custom_id, kind, payload in batch.results:
            if kind == "succeeded":
                answered.append({"response": payload, "metadata": {"key": custom_id}})
            elif kind == "errored":
                answered.append({"error": {"code": 13, "message": payload["message"]}, "metadata": {"key": custom_id}})
        if batch.status != "expired":  # an expired job has no output
            meta["output"] = {"inlinedResponses": {"inlinedResponses": answered}}
        op["done"] = True
    return op


def _gemini_error(handler, status: int, message: str) -> None:
    handler._send_json(status, {"error": {"code": status, "message": message,
                                          "status": "NOT_FOUND" if status == 404 else "INVALID_ARGUMENT"}})


def _gemini(handler, store, method, path, body) -> None:
    m = _GEMINI_BATCH_CREATE.match(path)
    if m and method == "POST":
        if store.faults.reject:
            return _gemini_error(handler, store.faults.reject, "The batch was rejected (fake fault).")
        batch_body = (body or {}).get("batch") or {}
        requests = ((batch_body.get("inputConfig") or {}).get("requests") or {}).get("requests") or []
        if not requests:
            return _gemini_error(handler, 400, "batch.inputConfig.requests.requests must not be empty")
        size = len(json.dumps(requests).encode())
        if size > 20 * 1000 * 1000:
            return _gemini_error(handler, 400, f"Inlined requests are limited to 20MB in total, got {size} bytes")
        batch = FakeBatch("gemini", f"batches/{store.next_id('')}", m.group(2),
                          [((r.get("metadata") or {}).get("key") or str(i), r.get("request") or {}) for i, r in enumerate(requests)],
                          time.time(), dataclasses.replace(store.faults), marker=batch_body.get("displayName") or "")
        store.batches[batch.id] = batch
        return handler._send_json(200, _gemini_op(batch))
    if _GEMINI_BATCH_LIST.match(path) and method == "GET":
        ops = [_gemini_op(b) for b in reversed(list(store.batches.values())) if b.provider == "gemini"]
        return handler._send_json(200, {"operations": ops})
    m = _GEMINI_BATCH.match(path)
    if m:
        batch = store.batches.get(f"batches/{m.group(2)}")
        if batch is None:
            return _gemini_error(handler, 404, f"Batch batches/{m.group(2)} not found")
        with store.lock:
            if m.group(3) and method == "POST":
                if batch.ended is None:
                    batch.status, batch.cancel_requested = "cancelling", True
                return handler._send_json(200, {})
            _advance(handler, store, batch)
            return handler._send_json(200, _gemini_op(batch))
    return _gemini_error(handler, 404, f"fake provider: no batch route for {method} {path}")
