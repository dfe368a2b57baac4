"""Signed webhook deliveries to checked public addresses.

Signature: each attempt sends ``X-Webhook-Timestamp: <unix seconds>`` and
``X-Webhook-Signature: t=<same seconds>,v1=<hex>`` where ``<hex>`` is HMAC-SHA256 with the
webhook's secret over ``<seconds>.<raw body>``. A receiver recomputes it, compares in constant
time and refuses a timestamp more than a few minutes from its clock, so a captured delivery
cannot be replayed later (``verify_signature`` below does all of that; docs/api.md shows it).

Address: the host is resolved once, every address it resolves to must be global (see
``address_problem``), and the connection goes to one of those checked addresses, with the
URL's host in the Host header and, over HTTPS, as the TLS server name the certificate is
verified against. A second lookup (DNS rebinding) never happens; redirects are not followed.
"""

import hashlib
import hmac
import http.client
import ipaddress
import json
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from . import conf
from .models import NoteArtifact, Webhook, WebhookDelivery

USER_AGENT = "llmplatform-webhooks/1"
MAX_URL_LENGTH = 2000
SIGNATURE_TOLERANCE_SECONDS = 300
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Webhook-Signature"
UNRESOLVED = "Cannot resolve "  # the one refusal that may pass (DNS down): a delivery retries it

# Not global, or global on paper but an address no webhook should reach: shared address space
# (carrier NAT), cloud metadata services, "this network", multicast, reserved, NAT64 local use.
_BLOCKED_NETWORKS = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "100.100.100.200/32", "169.254.0.0/16", "192.0.0.0/24", "224.0.0.0/4",
    "240.0.0.0/4", "255.255.255.255/32", "::/128", "::1/128", "fd00:ec2::254/128", "fc00::/7", "fe80::/10",
    "ff00::/8", "64:ff9b:1::/48", "2001::/32", "2001:db8::/32",
)]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?$")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The v1 signature: hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"t={ts},v1={sign(secret, ts, body)}"}


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes,
                     tolerance: int = SIGNATURE_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """True when ``headers`` carry a valid v1 signature of ``body`` made within ``tolerance`` seconds.

    For receivers (and our tests): pass the request's headers and its raw body. False for a
    missing or malformed header, a wrong signature, a timestamp header that disagrees with the
    signed one, or a timestamp older (or newer) than ``tolerance`` — a replayed delivery.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    fields: dict[str, list[str]] = {}
    for part in (lower.get(SIGNATURE_HEADER.lower()) or "").split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        ts = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if lower.get(TIMESTAMP_HEADER.lower(), str(ts)) != str(ts):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    expected = sign(secret, ts, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))


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


# --- Which URLs and addresses --------------------------------------------------------------

def url_problem(url: str) -> str:
    """Empty if ``url`` is a well-formed webhook URL; else what to fix. No DNS lookup.

    The one check of a URL's form, used by the form, the API and every delivery attempt.
    """
    if not isinstance(url, str) or not url:
        return "Enter the URL that should receive the webhook, e.g. https://example.com/hooks/artifacts."
    if len(url) > MAX_URL_LENGTH:
        return f"The URL is {len(url)} characters long; at most {MAX_URL_LENGTH} are allowed."
    for position, char in enumerate(url, 1):
        if char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F:
            what = "a space" if char == " " else f"a control or whitespace character ({char!r})"
            return f"The URL contains {what} at position {position}: remove it or percent-encode it (%20 for a space)."
        if ord(char) > 0x7E:
            return (f"The URL contains the non-ASCII character {char!r} at position {position}: percent-encode it "
                    "(and write an international host name in its xn-- form).")
    parts = urlsplit(url)
    if not parts.scheme or "://" not in url:
        return "The URL needs a scheme: start it with https:// (or http://)."
    if parts.scheme.lower() not in ("http", "https"):
        return f"Only http and https URLs can receive webhooks, not {parts.scheme}:."
    if "@" in parts.netloc:
        return "The URL must not contain a user name or password (user:pass@): the signature authenticates deliveries."
    try:
        port = parts.port
    except ValueError:
        return "The URL's port must be a number from 1 to 65535."
    if port == 0:
        return "The URL's port must be a number from 1 to 65535."
    host = parts.hostname or ""
    if not host:
        return "The URL has no host name, e.g. https://example.com/hook."
    if host.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return f"{host} is not a valid IPv6 address."
    elif not _HOST_RE.match(host) or ".." in host:
        return f"{host!r} is not a valid host name."
    return ""


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Empty if webhooks may connect to ``ip``; else why not. Only global unicast addresses pass."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = None
        if ip.ipv4_mapped is not None:
            embedded = ip.ipv4_mapped
        elif ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            embedded = ip.sixtofour
        if embedded is not None:
            inner = address_problem(embedded)
            return f"{ip} embeds {embedded}: {inner}" if inner else ""
        if ip.scope_id:
            return f"{ip} is a scoped (link-local) address"
    for network in _BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return f"{ip} is in the reserved or internal range {network}"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        return f"{ip} is not a unicast public address"
    if ip.is_private or not ip.is_global:
        return f"{ip} is a private or non-global address"
    return ""


@dataclass(frozen=True)
class Target:
    """A URL whose host was resolved once; ``addresses`` are the checked ones to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def resolve(url: str) -> tuple[Target | None, str]:
    """(target, "") with every address of the URL's host checked, or (None, why not)."""
    problem = url_problem(url)
    if problem:
        return None, problem
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return None, f"{UNRESOLVED}{host}: {exc}"
    addresses: list[str] = []
    for info in infos:
        address = info[4][0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        return None, f"{host} resolves to no address."
    if not conf.webhook_allow_private():
        for address in addresses:
            reason = address_problem(ipaddress.ip_address(address))
            if reason:
                return None, (f"{host} resolves to {address}, a private address webhooks may not reach ({reason}); "
                                   "use a public address.")
    return Target(scheme, host, port, path, tuple(addresses)), ""


def check_url(url: str) -> str:
    """Empty if the URL may be posted to; else why not (its form, then every address it resolves to)."""
    return resolve(url)[1]


# --- Delivery ------------------------------------------------------------------------------

class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a checked address, never resolving the host again; Host stays the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Like the above over TLS: SNI and certificate verification use the URL's host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=conf.webhook_ca_file() or None)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST to the first checked address that accepts a connection; the HTTP status (no redirects)."""
    last_error: OSError | None = None
    for address in target.addresses:
        if target.scheme == "https":
            conn = _PinnedHTTPSConnection(target.host, target.port, address, timeout, _tls_context())
        else:
            conn = _PinnedHTTPConnection(target.host, target.port, address, timeout)
        try:
            try:
                conn.connect()
            except (ConnectionError, socket.timeout) as exc:  # try the next checked address
                last_error = exc
                continue
            conn.request("POST", target.path, body=body, headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()
    raise last_error or OSError("no address to connect to")


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
    target, problem = resolve(hook.url)
    status_code = None
    error = problem
    if target is not None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Webhook-Event": delivery.event,
            "X-Webhook-Delivery": str(delivery.pk),
            **signature_headers(hook.secret, body),
        }
        try:
            status_code = post(target, body, headers, conf.webhook_timeout())
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}" + (" (redirects are not followed)" if 300 <= status_code < 400 else "")
        except ssl.SSLError as exc:
            error = f"TLS: {exc}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 -- an attempt ends logged, never as a 500 with the row pending
            error = f"{type(exc).__name__}: {exc}"[:500]
    entry.update({"status_code": status_code, "error": error})
    delivery.log = [*delivery.log, entry]
    delivery.response_status = status_code
    delivery.error = error
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = timezone.now()
        outcome = "delivered"
    elif (problem and not problem.startswith(UNRESOLVED)) or delivery.attempts >= conf.webhook_max_attempts():
        delivery.status = WebhookDelivery.Status.FAILED
        outcome = "failed"
    else:
        outcome = "retry"
    delivery.save(update_fields=["log", "response_status", "error", "status", "delivered_at"])
    return outcome


def next_attempt_delay(delivery_id: int) -> int:
    attempts = WebhookDelivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).first() or 1
    return min(10 * 2 ** (attempts - 1), 600)
