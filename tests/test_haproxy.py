"""deploy/haproxy.cfg, for real: HAProxy in front of two stub hub processes whose requests wait
until the test lets them go, so which request holds a slot is known exactly.

The proxy's admission must be the hub's (linkage_hub.loadshed): a caller's share, a bound per
process, the newcomers' reserve, probes never refused, and the hub's own 503 problem (or page)
with Retry-After. Callers are keyed as the hub keys them: the client of a token the hub's public
key verifies (``linkage-hub token-key``), else the source address. Skipped where HAProxy is not
installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from linkage_hub.auth.tokens import TokenKeys
from linkage_hub.domain import Department
from linkage_hub.errors import ServiceUnavailable
from linkage_hub.loadshed import _DETAILS, RETRY_AFTER_SECONDS
from tests.net import free_port, wait_until

HAPROXY = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SLOTS, CALLER_SLOTS, RESERVE = 2, 2, 1  # per process; two processes: four slots in all

pytestmark = pytest.mark.skipif(HAPROXY is None, reason="HAProxy is not installed")


@dataclass
class Stub:
    """A stand-in hub process: ``/hold...`` waits for ``release``; anything else answers now."""

    port: int
    release: threading.Event = field(default_factory=threading.Event)
    forwarded: list[str] = field(default_factory=list)
    held: int = 0
    posted: int = 0  # POSTs whose headers reached the process

    def serve(self) -> http.server.ThreadingHTTPServer:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                stub.forwarded.append(self.headers.get("X-Forwarded-For", ""))
                if self.path.startswith("/hold"):
                    stub.held += 1
                    stub.release.wait(30)
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                stub.posted += 1
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@dataclass
class Front:
    base: str
    stubs: list[Stub]
    keys: TokenKeys

    def token(self, client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {_issue(self.keys, client_id)}"}

    def held(self) -> int:
        return sum(s.held for s in self.stubs)


def _keys(private_key: ec.EllipticCurvePrivateKey) -> TokenKeys:
    return TokenKeys(private_key, issuer="hub", audience="hub", ttl_seconds=600)


@contextmanager
def _haproxy(hubs: list[int], key_file: Path) -> Iterator[str]:
    """HAProxy with deploy/haproxy.cfg in front of the processes on ``hubs``; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "LH_BIND": f"127.0.0.1:{port}",
        "LH_HUB1": f"127.0.0.1:{hubs[0]}",
        "LH_HUB2": f"127.0.0.1:{hubs[1]}",
        "LH_SLOTS": str(SLOTS),
        "LH_CALLER_SLOTS": str(CALLER_SLOTS),
        "LH_RESERVE": str(RESERVE),
        "LH_TOKEN_KEY": str(key_file),
        "LH_503": str(DEPLOY / "haproxy-503.http"),
    }
    assert HAPROXY is not None
    proc = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(DEPLOY / "haproxy.cfg")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{base}/health/live", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    error = proc.stderr.read().decode() if proc.stderr else ""
                    raise AssertionError(error) from None
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def front(tmp_path: Path) -> Iterator[Front]:
    keys = _keys(ec.generate_private_key(ec.SECP256R1()))
    key_file = tmp_path / "token-key.pem"
    key_file.write_text(keys.public_pem)
    stubs = [Stub(free_port()), Stub(free_port())]
    servers = [s.serve() for s in stubs]
    try:
        with _haproxy([s.port for s in stubs], key_file) as base:
            yield Front(base, stubs, keys)
    finally:
        for stub in stubs:
            stub.release.set()
        for server in servers:
            server.shutdown()


def _assert_refused(answer: httpx.Response, reason: str) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    request_id = problem.pop("request_id")
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert problem == ServiceUnavailable(_DETAILS[reason]).problem()


def test_the_proxy_admits_as_the_hub_does(front: Front) -> None:
    a, b, c, d = (front.token(name) for name in ("client-a", "client-b", "client-c", "client-d"))
    with ThreadPoolExecutor(8) as pool:

        def hold(headers: dict[str, str]) -> Future[httpx.Response]:
            return pool.submit(httpx.get, f"{front.base}/hold", headers=headers, timeout=30)

        held = [hold(a), hold(a)]
        wait_until(lambda: front.held() == 2)
        # A holds its share (two): its third is refused at once, a "share" refusal.
        _assert_refused(httpx.get(f"{front.base}/hold", headers=a), "share")
        held += [hold(b), hold(b)]
        wait_until(lambda: front.held() == 4)  # every slot of both processes is taken
        # C holds nothing: it may wait in the newcomers' reserve (one place)...
        queued = hold(c)
        time.sleep(0.2)
        assert not queued.done() and front.held() == 4
        # ...then C holds a place and is refused like anyone holding one; D finds it taken.
        _assert_refused(httpx.get(f"{front.base}/anything", headers=c), "capacity")
        _assert_refused(httpx.get(f"{front.base}/anything", headers=d), "capacity")
        # People's pages get a page; probes are neither refused nor queued.
        page = httpx.get(f"{front.base}/console/discrepancies", headers=d)
        assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
        assert "服务繁忙" in page.text and page.headers["retry-after"] == "1"
        api = httpx.get(f"{front.base}/public/v1/disclosures", headers=d)
        _assert_refused(api, "capacity")
        for probe in ("/health/live", "/health/ready", "/metrics"):
            assert httpx.get(f"{front.base}{probe}", headers=a, timeout=2).status_code == 200
        for stub in front.stubs:
            stub.release.set()
        assert [f.result().status_code for f in [*held, queued]] == [200] * 5
    # The hub learns the client's address from the proxy (LINKAGE_TRUSTED_PROXIES).
    assert all(value == "127.0.0.1" for s in front.stubs for value in s.forwarded)


def test_a_body_trickling_in_holds_no_hub_process(front: Front) -> None:
    """A 12310 form sent a byte at a time: the proxy forwarded its headers at once, so the
    request took one of a hub process's slots (``maxconn``) for as long as its sender liked.
    Now (``option http-buffer-request``) the proxy waits for the body, within ``timeout
    http-request``, before it asks a hub process."""
    host, port = front.base.removeprefix("http://").split(":")
    body = b"category=other&region=230100&facts=" + b"x" * 60
    with socket.create_connection((host, int(port)), timeout=5) as slow:
        head = f"POST /public/12310 HTTP/1.1\r\nHost: hub\r\nContent-Length: {len(body)}\r\n"
        slow.sendall(head.encode() + b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        slow.sendall(body[:10])
        time.sleep(0.5)
        assert sum(s.posted for s in front.stubs) == 0  # no hub process holds it yet
        slow.sendall(body[10:])
        assert slow.recv(64).startswith(b"HTTP/1.1 204")
    assert sum(s.posted for s in front.stubs) == 1


def test_a_flood_of_forged_tokens_from_one_address_is_one_caller(front: Front) -> None:
    forger = _keys(ec.generate_private_key(ec.SECP256R1()))  # not the hub's key
    forged = [
        {"Authorization": f"Bearer {_issue(forger, f'client-{n}')}"}
        for n in range(CALLER_SLOTS + 1)
    ]
    with ThreadPoolExecutor(4) as pool:
        held = [
            pool.submit(httpx.get, f"{front.base}/hold", headers=h, timeout=30)
            for h in forged[:CALLER_SLOTS]
        ]
        wait_until(lambda: front.held() == CALLER_SLOTS)
        # Each forged token names another client, but none verifies: all count as the address.
        _assert_refused(httpx.get(f"{front.base}/hold", headers=forged[-1]), "share")
        # A genuine token of the hub is its own caller and gets in.
        genuine = pool.submit(
            httpx.get, f"{front.base}/hold", headers=front.token("client-x"), timeout=30
        )
        wait_until(lambda: front.held() == CALLER_SLOTS + 1)
        for stub in front.stubs:
            stub.release.set()
        assert [f.result().status_code for f in [*held, genuine]] == [200] * (CALLER_SLOTS + 1)


def _issue(keys: TokenKeys, client_id: str) -> str:
    return keys.issue(
        client_id=client_id,
        department=Department.audit,
        region="230100",
        scopes=frozenset(),
        secret_version=1,
    ).access_token


def test_two_real_hub_processes_behind_the_proxy(tmp_path: Path) -> None:
    """The deployment of README "Running on PostgreSQL", here on the embedded default: two
    processes sharing one data directory (one signing key), the proxy verifying their tokens
    with ``linkage-hub token-key``'s output, the hub's own bound off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    env |= {
        "LINKAGE_DATA_DIR": str(tmp_path),
        "LINKAGE_MAX_IN_FLIGHT": "0",
        "LINKAGE_TRUSTED_PROXIES": '["127.0.0.1"]',
    }
    hub = [sys.executable, "-m", "linkage_hub.cli"]
    subprocess.run([*hub, "migrate"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*hub, "clients", "create", "--department", "audit", "--region", "230100", "--name", "a"],
        env=env,
        check=True,
        capture_output=True,
    )
    client = json.loads(created.stdout)
    key_file = tmp_path / "token-key.pem"
    key_file.write_bytes(
        subprocess.run([*hub, "token-key"], env=env, check=True, capture_output=True).stdout
    )
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [*hub, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port in ports:
            wait_until(lambda port=port: _ready(f"http://127.0.0.1:{port}"), seconds=60)
        with _haproxy(ports, key_file) as base:
            form = {"grant_type": "client_credentials"} | {
                k: client[k] for k in ("client_id", "client_secret")
            }
            answer = httpx.post(f"{base}/oauth/token", data=form)
            assert answer.status_code == 200, answer.text
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            # Keep-alive through the proxy, to either process: the same answers.
            with httpx.Client(base_url=base, headers=headers) as http:
                for _ in range(6):
                    page = http.get("/api/v1/datasets/roster/records?limit=5")
                    assert page.status_code == 200, page.text
                    assert page.json()["items"] == []
                assert http.get("/health/ready").status_code == 200
                # A token the hub did not sign is the hub's to refuse, not the proxy's.
                forged = http.get(
                    "/api/v1/datasets/roster/records", headers={"Authorization": "Bearer a.b.c"}
                )
                assert forged.status_code == 401
                assert forged.headers["content-type"] == "application/problem+json"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
