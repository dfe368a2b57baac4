"""Webhook hardening (issue 19 #4, #9, #10, #11): one DNS lookup whose every address is checked
and then pinned (Host header and TLS name kept), only global addresses, one URL check for the
form, the API and deliveries, and timestamped signatures."""

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from artifacts import webhooks
from artifacts.models import Webhook, WebhookDelivery
from artifacts.webhooks import address_problem, check_url, deliver, signature_headers, url_problem, verify_signature
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a global address: checked, recorded, never actually connected to here
_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = socket.create_connection


class Resolver:
    """socket.getaddrinfo with scripted answers per host name, one list per successive lookup."""

    def __init__(self, answers: dict[str, list[list[str]]]):
        self.answers = {host: list(lists) for host, lists in answers.items()}
        self.lookups: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        if host in self.answers:
            self.lookups.append(host)
            scripted = self.answers[host]
            addresses = scripted.pop(0) if len(scripted) > 1 else scripted[0]
            out = []
            for a in addresses:
                fam = socket.AF_INET6 if ":" in a else socket.AF_INET
                sockaddr = (a, int(port or 0), 0, 0) if fam == socket.AF_INET6 else (a, int(port or 0))
                out.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
            return out
        return _real_getaddrinfo(host, port, family, type, proto, flags)


class Receiver:
    """A loopback HTTP(S) server that records each request's headers, body and TLS server name."""

    def __init__(self, context: ssl.SSLContext | None = None):
        self.received: list[tuple[dict, bytes]] = []
        self.server_names: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            context.sni_callback = lambda sock, name, ctx: receiver.server_names.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(context=None):
        made.append(Receiver(context))
        return made[-1]

    yield make
    for r in made:
        r.stop()


@pytest.fixture
def connections(monkeypatch):
    """Records every address a socket connection is opened to; only loopback really connects."""
    seen: list[tuple[str, int]] = []

    def create_connection(address, *args, **kwargs):
        host, port = address[0], address[1]
        seen.append((host, port))
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:  # a name: resolve it the way socket.create_connection would
            loopback = all(ipaddress.ip_address(i[4][0]).is_loopback for i in socket.getaddrinfo(host, port))
            if loopback:
                seen[-1] = (socket.getaddrinfo(host, port)[0][4][0], port)
        if not loopback:
            raise ConnectionRefusedError(f"test: no traffic leaves this machine ({host})")
        return _real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return seen


def _delivery(owner, url: str) -> WebhookDelivery:
    hook = Webhook.objects.create(user=owner, url=url)
    return WebhookDelivery.objects.create(webhook=hook, body=json.dumps({"event": "artifact.completed"}))


def _certificate(tmp_path, name: str):
    """A self-signed certificate for ``name`` (its own CA) and a server context serving it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context


# --- #4 DNS rebinding ------------------------------------------------------------------------

def test_a_rebinding_host_is_connected_to_at_the_checked_address_only(owner, monkeypatch, settings, receivers,
                                                                      connections):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = False
    inside = receivers()  # what the attacker wants to reach: a service on loopback
    resolver = Resolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})  # public to the check, loopback after
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    delivery = _delivery(owner, f"http://rebind.example:{inside.port}/hook")

    outcome = deliver(delivery.pk)

    assert inside.received == []  # the old code resolved again and posted to 127.0.0.1
    assert resolver.lookups == ["rebind.example"]  # one lookup, checked, then pinned
    assert connections == [(PUBLIC, inside.port)]
    delivery.refresh_from_db()
    assert outcome == "retry" and delivery.status == "pending" and "ConnectionRefusedError" in delivery.error


def test_every_resolved_address_is_checked(monkeypatch, settings):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(socket, "getaddrinfo", Resolver({"mixed.example": [[PUBLIC, "100.64.0.7"]]}))
    assert "100.64.0.7" in check_url("https://mixed.example/hook")


def test_the_pinned_connection_keeps_the_host_header(owner, monkeypatch, settings, receivers, connections):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = True  # loopback allowed by the test setting
    server = receivers()
    resolver = Resolver({"hooks.example": [["127.0.0.1"], [PUBLIC]]})
    monkeypatch.setattr(socket, "getaddrinfo", resolver)

    assert deliver(_delivery(owner, f"http://hooks.example:{server.port}/in?x=1").pk) == "delivered"

    headers, _ = server.received[0]
    assert headers["Host"] == f"hooks.example:{server.port}"
    assert resolver.lookups == ["hooks.example"] and connections == [("127.0.0.1", server.port)]


def test_https_is_verified_against_the_host_name_while_connected_to_the_checked_address(
        owner, monkeypatch, settings, receivers, tmp_path):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = True
    cert_file, context = _certificate(tmp_path, "hooks.example")
    settings.ARTIFACTS_WEBHOOK_CA_FILE = str(cert_file)
    server = receivers(context)
    resolver = Resolver({"hooks.example": [["127.0.0.1"], [PUBLIC]], "impostor.example": [["127.0.0.1"]]})
    monkeypatch.setattr(socket, "getaddrinfo", resolver)

    assert deliver(_delivery(owner, f"https://hooks.example:{server.port}/hook").pk) == "delivered"
    assert server.server_names == ["hooks.example"]  # SNI carries the URL's host, not the address
    assert server.received[0][0]["Host"] == f"hooks.example:{server.port}"
    assert resolver.lookups == ["hooks.example"]

    # Same address, another name: the certificate (for hooks.example) does not match, nothing is sent.
    wrong = _delivery(owner, f"https://impostor.example:{server.port}/hook")
    assert deliver(wrong.pk) == "retry"
    wrong.refresh_from_db()
    assert "TLS" in wrong.error and "impostor.example" in wrong.error
    assert len(server.received) == 1


def test_a_redirect_is_not_followed(owner, settings):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = True
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        delivery = _delivery(owner, f"http://127.0.0.1:{server.server_port}/hook")
        assert deliver(delivery.pk) == "retry"
    finally:
        server.shutdown()
        server.server_close()
    delivery.refresh_from_db()
    assert hits == ["/hook"] and delivery.response_status == 307 and "not followed" in delivery.error


# --- #9 only global addresses ---------------------------------------------------------------

@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "100.64.0.1", "100.127.255.254",  # shared address space (carrier-grade NAT)
    "100.100.100.200",  # Alibaba Cloud metadata
    "169.254.169.254",  # AWS/GCP/Azure metadata
    "fd00:ec2::254",  # AWS metadata over IPv6
    "0.0.0.0", "0.1.2.3", "::",
    "224.0.0.1", "239.255.255.250", "ff02::1",  # multicast
    "240.0.0.1", "255.255.255.255",  # reserved, broadcast
    "::1", "fe80::1", "fc00::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1",  # IPv4-mapped IPv6
    "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b::a00:1",  # NAT64 embedding a private IPv4
    "64:ff9b:1::1",  # NAT64 local use
    "2002:a9fe:a9fe::1",  # 6to4 embedding 169.254.169.254
    "198.18.0.1", "192.0.2.1", "2001:db8::1",  # benchmarking, documentation
])
def test_non_global_addresses_are_refused(address, monkeypatch, settings):
    assert address_problem(ipaddress.ip_address(address)), address
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(socket, "getaddrinfo", Resolver({"inside.example": [[address]]}))
    problem = check_url("https://inside.example/hook")
    assert "may not reach" in problem and address.split("%")[0] in problem


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8",
                                     "64:ff9b::808:808"])
def test_global_addresses_pass(address):
    assert address_problem(ipaddress.ip_address(address)) == ""


# --- #10 one URL check for the form, the API and deliveries ---------------------------------

BAD_URLS = [
    ("https://example.com/a b", "a space"),
    ("example.com/hook", "scheme"),
    ("ftp://example.com/hook", "Only http and https"),
    ("https://user:pass@example.com/hook", "user name or password"),
    ("https://example.com/" + "a" * 2000, "at most 2000"),
    ("https://example.com/\x1bhook", "control"),
    ("https://example.com/hook\n", "control"),
    ("https://exa mple.com/hook", "a space"),
    ("https:///hook", "no host"),
    ("https://example.com:99999/hook", "port"),
    ("https://exa$mple.com/hook", "not a valid host name"),
]


@pytest.mark.parametrize("url,message", BAD_URLS)
def test_the_api_refuses_bad_urls_with_the_reason(url, message, owner_client):
    response = owner_client.post("/api/artifacts/webhooks", data=json.dumps({"url": url}), content_type="application/json")
    assert response.status_code == 422, response.content
    assert message in response.json()["detail"]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("url,message", BAD_URLS)
def test_the_form_refuses_bad_urls_with_the_same_reason(url, message, owner_client):
    response = owner_client.post("/artifacts/webhooks/", {"url": url})
    assert response.status_code == 200
    errors = response.context["form"].errors["url"]
    assert any(message in e for e in errors), errors
    assert not Webhook.objects.exists()


def test_form_and_api_use_one_check():
    for url, _ in BAD_URLS:
        assert url_problem(url)
    assert url_problem("https://example.com/hooks/artifacts?team=7") == ""
    assert url_problem("http://[2606:4700:4700::1111]:8443/hook") == ""


def test_a_stored_bad_url_fails_its_delivery_and_the_eager_generate_request_still_succeeds(
        owner, owner_client, note, providers, fake, celery_eager, run_on_commit, settings):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = True  # the old address check let 127.0.0.1 through
    Webhook.objects.create(user=owner, url="http://127.0.0.1:9/a b")  # stored before the check existed
    fake.script(Reply(text="Done."), route="gemini")
    with run_on_commit():
        response = owner_client.post(f"/api/artifacts/generate/note/{note.pk}",
                                     data=json.dumps({"artifact_type": "summary"}), content_type="application/json")
    assert response.status_code in (200, 201, 202), response.content  # was a 500 (InvalidURL in the eager task)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 1  # was pending forever
    assert "a space" in delivery.error and delivery.log[0]["error"] == delivery.error


def test_an_unexpected_error_in_an_attempt_is_logged_not_raised(owner, settings, monkeypatch):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = True

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(webhooks, "post", broken)
    delivery = _delivery(owner, "http://127.0.0.1:9/hook")
    assert deliver(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.error == "ValueError: boom" and delivery.attempts == 1


# --- #11 timestamped signatures -------------------------------------------------------------

def test_a_signature_verifies_within_the_tolerance_only():
    body = b'{"event": "artifact.completed"}'
    headers = signature_headers("s3cret", body)
    assert verify_signature("s3cret", headers, body)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify_signature("s3cret", lowered, body)  # header names are case-insensitive
    assert not verify_signature("other", headers, body)
    assert not verify_signature("s3cret", headers, body + b" ")
    assert not verify_signature("s3cret", {}, body)
    assert not verify_signature("s3cret", {"X-Webhook-Signature": "t=abc,v1=00"}, body)


def test_a_replayed_old_delivery_fails_verification():
    body = b'{"event": "artifact.completed"}'
    old = signature_headers("s3cret", body, timestamp=int(time.time()) - 301)
    assert not verify_signature("s3cret", old, body, tolerance=300)
    assert verify_signature("s3cret", old, body, tolerance=600)
    # Moving the timestamp header forward does not help: the signed timestamp is in the signature.
    forged = {**old, "X-Webhook-Timestamp": str(int(time.time()))}
    assert not verify_signature("s3cret", forged, body)
    ts = int(time.time())
    resigned = {"X-Webhook-Signature": old["X-Webhook-Signature"].replace(old["X-Webhook-Timestamp"], str(ts))}
    assert not verify_signature("s3cret", resigned, body)


def test_each_attempt_is_signed_with_its_own_timestamp(owner, settings, receivers):
    settings.ARTIFACTS_WEBHOOK_ALLOW_PRIVATE = True
    server = receivers()
    delivery = _delivery(owner, f"http://127.0.0.1:{server.port}/hook")
    before = int(time.time())
    assert deliver(delivery.pk) == "delivered"
    headers, body = server.received[0]
    assert before <= int(headers["X-Webhook-Timestamp"]) <= int(time.time())
    assert verify_signature(delivery.webhook.secret, headers, body)
