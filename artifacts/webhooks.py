"""Signed webhook deliveries: HMAC-SHA256 of the exact body with the webhook's secret.

Receivers verify ``X-Signature: sha256=<hex>`` by computing
``hmac.new(secret, body, sha256).hexdigest()`` over the raw request body.
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from . import conf
from .models import NoteArtifact, Webhook, WebhookDelivery

USER_AGENT = "llmplatform-webhooks/1"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload_for(artifact: NoteArtifact) -> dict:
    return {
        "event": "artifact.completed",
        "artifact": {
            "id": artifact.pk,
            "note_id": artifact.note_id,
            "artifact_type": artifact.artifact_type,
            "version": artifact.version,
            "status": artifact.status,
            "generation_mode": artifact.generation_mode,
            "provider": artifact.provider,
            "model": artifact.model,
            "cost_usd": str(artifact.cost_usd) if artifact.cost_usd is not None else None,
            "finished_at": artifact.finished_at.isoformat() if artifact.finished_at else None,
        },
    }


def create_deliveries(artifact: NoteArtifact) -> list[int]:
    """One pending delivery per active webhook of the owner (none twice for the same artifact)."""
    body = json.dumps(payload_for(artifact), sort_keys=True)
    ids = []
    for hook in Webhook.objects.for_user(artifact.owner_id).filter(active=True):
        delivery, created = WebhookDelivery.objects.get_or_create(
            webhook=hook, artifact=artifact, event="artifact.completed", defaults={"body": body}
        )
        if created:
            ids.append(delivery.pk)
    return ids


def check_url(url: str) -> str:
    """Empty if the URL may be posted to; else why not (no private addresses unless allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Only http and https URLs can receive webhooks."
    if conf.webhook_allow_private():
        return ""
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        return f"Cannot resolve {parts.hostname}: {exc}"
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            return f"{parts.hostname} resolves to a private address ({ip}); webhooks go to public addresses only."
    return ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is an answer (3xx), never followed: it could point anywhere


def deliver(delivery_id: int) -> str:
    """One attempt. Returns "delivered", "retry" or "failed" (gave up or refused)."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().select_related("webhook").get(pk=delivery_id)
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery.status
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
    hook = delivery.webhook
    body = delivery.body.encode()
    entry = {"attempt": delivery.attempts, "at": timezone.now().isoformat()}
    problem = check_url(hook.url)
    status_code = None
    error = ""
    if problem:
        error = problem
    else:
        request = urllib.request.Request(hook.url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Signature": sign(hook.secret, body),
            "X-Webhook-Event": delivery.event,
            "X-Webhook-Delivery": str(delivery.pk),
        })
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=conf.webhook_timeout()) as response:
                status_code = response.status
        except urllib.error.HTTPError as exc:
            status_code = exc.code
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    entry.update({"status_code": status_code, "error": error})
    delivery.log = [*delivery.log, entry]
    delivery.response_status = status_code
    delivery.error = error
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = timezone.now()
        outcome = "delivered"
    elif problem or delivery.attempts >= conf.webhook_max_attempts():
        delivery.status = WebhookDelivery.Status.FAILED
        outcome = "failed"
    else:
        outcome = "retry"
    delivery.save(update_fields=["log", "response_status", "error", "status", "delivered_at"])
    return outcome


def next_attempt_delay(delivery_id: int) -> int:
    attempts = WebhookDelivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).first() or 1
    return min(10 * 2 ** (attempts - 1), 600)
