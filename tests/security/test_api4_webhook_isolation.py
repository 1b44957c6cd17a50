"""One department's webhook cannot stop the others' deliveries.

The worker sends a claim's deliveries (every subscriber's) one after the other and writes their
outcomes together. An error escaping one delivery's POST once escaped the whole round: no
outcome of the claim was written, and the other departments' deliveries were never sent, or
sent with no attempt recorded (and so sent again when the lease ran out).

- **A URL httpx cannot send to** (a control character in the path, which ``urlsplit``
  accepts): subscribed (201), then ``httpx.InvalidURL`` (not an ``httpx.HTTPError``) at every
  delivery. Now refused when subscribing or changing the URL (422 naming ``url``), and one
  stored before is that delivery's refused attempt.
- **A receiver's odd ``Retry-After``** on its 503 (``²``, which ``str.isdigit`` takes for a
  digit and ``float`` cannot read; a date whose year overflows): the error escaped the round.
  Now only ASCII digits or an HTTP date are read, anything else ignored.
- **Anything else one delivery raises** is that delivery's failed attempt, never the claim's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from linkage_hub.db import Database
from linkage_hub.notifications import sender, worker
from linkage_hub.notifications.models import Subscription
from linkage_hub.notifications.worker import Deliverer
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, local_hooks, receiver  # noqa: F401
from tests.records.factory import unit

SUBS = "/api/v1/subscriptions"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return local_hooks(settings, deliver_in_process=False)


def _two_subscribers(
    client: TestClient, headers_for: HeadersFor, honest_url: str, other_url: str
) -> tuple[str, str]:
    """The establishment office's subscription and the organization department's, and an
    event for both."""
    made = [
        client.post(SUBS, json={"url": url, "events": ["records.changed"]}, headers=headers)
        for url, headers in (
            (honest_url, headers_for("establishment")),
            (other_url, headers_for("organization")),
        )
    ]
    assert [m.status_code for m in made] == [201, 201], [m.text for m in made]
    pushed = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [unit(1)]},
        headers=headers_for("establishment"),
    )
    assert pushed.status_code == 201, pushed.text
    return made[0].json()["id"], made[1].json()["id"]


def _attempts(client: TestClient, headers: dict[str, str], sub: str) -> list[dict[str, Any]]:
    answer = client.get(f"{SUBS}/{sub}/deliveries", headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


@pytest.mark.parametrize("bad", ["/hook\u0001", "/hook\u007f", "/ho\nok"])
def test_a_url_httpx_cannot_send_to_is_refused_when_subscribing_or_changing(
    client: TestClient,
    headers_for: HeadersFor,
    receiver: Receiver,  # noqa: F811
    bad: str,
) -> None:
    headers = headers_for("organization")
    body = {"url": receiver.url + bad, "events": ["records.changed"]}
    made = client.post(SUBS, json=body, headers=headers)
    assert made.status_code == 422, made.text
    assert made.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in made.json()["errors"]] == ["url"]

    sub = client.post(SUBS, json={**body, "url": receiver.url}, headers=headers).json()
    changed = client.patch(f"{SUBS}/{sub['id']}", json={"url": body["url"]}, headers=headers)
    assert changed.status_code == 422, changed.text
    assert [e["field"] for e in changed.json()["errors"]] == ["url"]


def test_a_stored_url_httpx_cannot_send_to_fails_alone(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    receiver: Receiver,  # noqa: F811
) -> None:
    """A URL subscribed before it was refused: its delivery is a refused attempt, the other
    department's is sent and recorded."""
    honest, other = _two_subscribers(client, headers_for, receiver.url, receiver.url + "/o")
    with database.transaction() as session:
        session.execute(
            update(Subscription)
            .where(Subscription.id == other)
            .values(url=receiver.url + "/hook\u0001")
        )
    Deliverer(database).drain()
    assert len(receiver.received) == 1
    assert [a["status_code"] for a in _attempts(client, headers_for("establishment"), honest)] == [
        204
    ]
    [failed] = _attempts(client, headers_for("organization"), other)
    assert failed["status_code"] is None and failed["error"].startswith("refused"), failed


def test_an_error_in_one_delivery_is_that_deliverys_failed_attempt(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    receiver: Receiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever one POST raises (here a bug of its own) is recorded as that delivery's failed
    attempt; the claim's other deliveries are sent and recorded."""
    honest, other = _two_subscribers(client, headers_for, receiver.url, receiver.url + "/o")
    real_post = worker.post

    def post(client: Any, url: str, *args: Any) -> Any:
        if url.endswith("/o"):
            raise RuntimeError("a bug")
        return real_post(client, url, *args)

    monkeypatch.setattr(worker, "post", post)
    Deliverer(database).drain()
    assert len(receiver.received) == 1
    assert [a["status_code"] for a in _attempts(client, headers_for("establishment"), honest)] == [
        204
    ]
    [failed] = _attempts(client, headers_for("organization"), other)
    assert failed["status_code"] is None and failed["error"] == "failed: RuntimeError", failed


@pytest.fixture
def odd_retry_after() -> Iterator[str]:
    """A receiver answering every POST 503 with ``Retry-After: \\xb2`` (latin-1 '²')."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(503)
            self.send_header("Retry-After", "\u00b2")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_a_receivers_odd_retry_after_is_its_own_failed_attempt(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    receiver: Receiver,  # noqa: F811
    odd_retry_after: str,
) -> None:
    honest, other = _two_subscribers(client, headers_for, receiver.url, odd_retry_after)
    Deliverer(database).drain()
    assert len(receiver.received) == 1
    assert [a["status_code"] for a in _attempts(client, headers_for("establishment"), honest)] == [
        204
    ]
    assert [a["status_code"] for a in _attempts(client, headers_for("organization"), other)] == [
        503
    ]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"120", 120.0),
        (b" 7 ", 7.0),
        (b"Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # past: now
        (b"Sun Nov  6 08:49:37 1994", 0.0),
        (b"\xb2", None),  # '\u00b2': a digit to str.isdigit, not to float
        (b"\xd9\xa3", None),  # an Arabic-Indic three, read as latin-1
        (b"1.5", None),
        (b"-1", None),
        (b"", None),
        (b"Mon, 01 Jan 99999999999999999999 00:00:00 GMT", None),  # OverflowError
        (b"Mon, 01 Jan 2026 99:00:00 GMT", None),
    ],
)
def test_retry_after_is_ascii_seconds_or_an_http_date(value: bytes, seconds: float | None) -> None:
    answer = httpx.Response(503, headers=[(b"retry-after", value)])
    assert sender._retry_after(answer) == seconds
