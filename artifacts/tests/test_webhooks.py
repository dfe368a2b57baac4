"""Signed webhook deliveries to a real HTTP server on loopback, retried and logged."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from artifacts.models import Webhook, WebhookDelivery
from artifacts.webhooks import check_url
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


class Receiver:
    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*statuses):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.stop()


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = True


def _generate(client, note):
    return client.post(f"/api/artifacts/generate/note/{note.pk}", data=json.dumps({"artifact_type": "summary"}),
                       content_type="application/json")


def test_a_completed_artifact_is_posted_signed_after_retries(owner_client, owner, note, providers, fake, celery_eager,
                                                              run_on_commit, receiver):
    server = receiver(500, 503)
    created = owner_client.post("/api/artifacts/webhooks", data=json.dumps({"url": server.url}), content_type="application/json")
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret not in owner_client.get("/api/artifacts/webhooks").content.decode()
    fake.script(Reply(text="Done."), route="gemini")
    with run_on_commit():
        artifact_id = _generate(owner_client, note).json()["id"]
    assert len(server.received) == 3  # 500, 503, then 200
    headers, body = server.received[-1]
    # Signed over "<timestamp>.<body>" (issue 19 #11: a body-only signature could be replayed).
    ts = headers["X-Webhook-Timestamp"]
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Webhook-Signature"] == f"t={ts},v1={expected}"
    assert "X-Signature" not in headers
    payload = json.loads(body)
    assert payload["event"] == "artifact.completed" and payload["artifact"]["id"] == artifact_id
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [entry["status_code"] for entry in delivery.log] == [500, 503, 200]
    deliveries = owner_client.get(f"/api/artifacts/webhooks/{delivery.webhook_id}/deliveries").json()
    assert deliveries[0]["status"] == "delivered"


def test_it_gives_up_after_the_last_attempt_and_logs_it(owner, note, owner_client, providers, fake, celery_eager,
                                                        run_on_commit, receiver, settings):
    settings.ARTIFACTS_WEBHOOK_MAX_ATTEMPTS = 2
    server = receiver(500, 500, 500)
    Webhook.objects.create(user=owner, url=server.url)
    fake.script(Reply(text="Done."), route="gemini")
    with run_on_commit():
        _generate(owner_client, note)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 2 and len(server.received) == 2
    assert delivery.error == "HTTP 500"


def test_private_addresses_are_refused_unless_allowed(settings):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = False
    assert "private address" in check_url("http://127.0.0.1:9/hook")
    assert "http and https" in check_url("file:///etc/passwd")


def test_an_outsider_cannot_see_or_delete_webhooks(client, outsider, owner):
    hook = Webhook.objects.create(user=owner, url="https://example.com/hook")
    client.force_login(outsider)
    assert client.get(f"/api/artifacts/webhooks/{hook.pk}/deliveries").status_code == 404
    assert client.delete(f"/api/artifacts/webhooks/{hook.pk}").status_code == 404
    assert client.post(f"/artifacts/webhooks/{hook.pk}/delete/").status_code == 404
    assert "example.com/hook" not in client.get("/artifacts/webhooks/").content.decode()
