"""A real receiver (an HTTP server on 127.0.0.1 verifying with ``standardwebhooks``) and a
hub whose webhooks may reach it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from linkage_hub.settings import Settings
from tests.conftest import make_settings


def local_hooks(settings: Settings, **overrides: Any) -> Settings:
    """``settings`` with webhooks allowed to reach 127.0.0.1 (the receivers here)."""
    return make_settings(
        settings.database_url or "",
        settings.data_dir,
        webhook_allow_hosts=["127.0.0.1"],
        **overrides,
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return local_hooks(settings, webhook_poll_seconds=0.1)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """Answers each POST with the next of ``answers`` (then 204), and keeps what came."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            return self.answers.pop(0) if self.answers else (204, {})

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every body received, each verified with ``secret`` by the reference library."""
        out = []
        for r in list(self.received):
            payload = Webhook(secret).verify(r.body, r.headers)
            out.append(payload)
        return out

    def wait(self, predicate: Callable[[list[Received]], bool], seconds: float = 20) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if predicate(list(self.received)):
                return
            time.sleep(0.05)
        raise AssertionError(f"not received in time: {len(self.received)} deliveries")


def verifies(secret: str, r: Received) -> bool:
    try:
        Webhook(secret).verify(r.body, r.headers)
    except WebhookVerificationError:
        return False
    return True


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            state.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            status, headers = state.answer()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/linkage"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
