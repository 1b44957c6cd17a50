"""The webhook sender's guards, against receivers that bend them.

- **A kept-alive connection is one host name's.** Each POST connects to the address checked
  for its URL, with the URL's host as TLS's server name and certificate check. The pool keyed
  connections by that address alone, so a POST to https://b.test/ resolving to the address of
  an open connection to https://a.test/ went over it: b.test's signed event reached whoever
  holds a.test's certificate, and b.test's was never checked (two subscribers behind one shared
  front end). Now the pool is keyed by host name and the connection goes to the checked address.
- **The DNS lookup counts toward the timeout.** A subscriber controls its name servers; a slow
  lookup held a POST past the timeout the worker's lease relies on. Now the lookup runs under
  what is left of the POST's deadline ("timed out" past it).
- **One subscriber's silent name servers do not stall another's lookups.** Bounded lookups ran
  in a shared pool of four threads, and an abandoned lookup kept its thread until the resolver
  gave up: four POSTs to a host whose name servers never answer filled the pool, and every
  other subscriber's lookup queued behind them and timed out. Now each lookup has its own
  thread, and a host name gets at most two running at once.
"""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from linkage_hub.notifications import sender


def _cert_for(name: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    hosts: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        _Handler.hosts.append(self.headers.get("host", ""))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def only_a_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A TLS receiver on 127.0.0.1 whose certificate names a.test only; a.test and b.test
    both resolve to it; the hub's clients trust that certificate."""
    cert, key = _cert_for("a.test", tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    real = socket.getaddrinfo

    def resolve(host: str, port: int, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if host in ("a.test", "b.test"):
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    def trusting(**kwargs: object) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(cert))
        return ctx

    monkeypatch.setattr(sender.socket, "getaddrinfo", resolve)
    monkeypatch.setattr(httpx, "create_ssl_context", trusting)
    _Handler.hosts = []
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


ALLOW = ["a.test", "b.test"]  # loopback allowed for these two names (the test's receiver)


def test_a_host_without_a_valid_certificate_is_refused_on_a_fresh_client(only_a_test: int) -> None:
    """The control: b.test's POST alone fails the certificate check, as it must."""
    port = only_a_test
    with sender.client(5.0) as client:
        out = sender.post(client, f"https://b.test:{port}/hook", b"{}", {}, ALLOW)
    assert not out.ok and out.status_code is None, out


def test_a_kept_alive_connection_is_not_reused_for_another_host_name(only_a_test: int) -> None:
    port = only_a_test
    with sender.client(5.0) as client:
        first = sender.post(client, f"https://a.test:{port}/hook", b"{}", {}, ALLOW)
        assert first.ok, first
        second = sender.post(client, f"https://b.test:{port}/hook", b"{}", {}, ALLOW)
    assert not second.ok, (
        f"b.test's event was POSTed over a.test's TLS connection (hosts the receiver saw: "
        f"{_Handler.hosts}); b.test's certificate was never checked"
    )


TIMEOUT = 1.0
DNS_TAKES = 4.0  # a resolver's timeouts and retries on a name server that does not answer


class _Quick(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_dns_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quick)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real = socket.getaddrinfo

    def slow(host: str, port: int, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if host == "hooks.slow-dns.test":
            time.sleep(DNS_TAKES)
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(sender.socket, "getaddrinfo", slow)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_slow_dns_lookup_does_not_hold_a_post_past_the_timeout(slow_dns_receiver: int) -> None:
    url = f"http://hooks.slow-dns.test:{slow_dns_receiver}/hook"
    with sender.client(TIMEOUT) as http_client:
        started = time.monotonic()
        outcome = sender.post(http_client, url, b"{}", {}, ["hooks.slow-dns.test"])
        took = time.monotonic() - started
    assert took < TIMEOUT + 0.5, (
        f"the POST took {took:.1f} s (timeout {TIMEOUT} s; its DNS lookup {DNS_TAKES} s): {outcome}"
    )


@pytest.fixture
def jammed_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``jammed.test``'s name servers never answer (until the test ends); other names resolve
    at once. Yields the names looked up, in order."""
    release = threading.Event()
    asked: list[str] = []

    def resolve(host: str, port: int, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        asked.append(host)
        if host == "jammed.test":
            release.wait(30)
            raise socket.gaierror("no answer")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(sender.socket, "getaddrinfo", resolve)
    try:
        yield asked
    finally:
        release.set()


def test_a_host_whose_name_servers_never_answer_does_not_delay_another_host(
    jammed_dns: list[str],
) -> None:
    for _ in range(6):
        with pytest.raises(sender.LookupTimedOut):
            sender.check_target("https://jammed.test/hook", [], timeout=0.05)
    started = time.monotonic()
    address = sender.check_target("https://open.test/hook", [], timeout=1.0)
    took = time.monotonic() - started
    assert address == "93.184.216.34"
    assert took < 0.5, f"open.test's lookup waited {took:.2f} s behind jammed.test's"
    # The jammed name holds at most two threads; the later attempts were refused without one.
    assert jammed_dns.count("jammed.test") == sender.MAX_LOOKUPS_PER_HOST
