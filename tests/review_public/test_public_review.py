"""Public face: what a stranger can read or do that the README and API.md say they cannot."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.net import free_port
from tests.public.conftest import CITY, City, organ


def test_a_classified_former_parent_is_not_named_by_a_unit_that_left_it(
    client: TestClient, headers_for: HeadersFor, city: City, publish
) -> None:
    """The office moved out of the bureau (its own unit now), then the bureau was classified.
    The office is public; its published page must not name the classified bureau."""
    publish()
    bureau = city.units["bureau"]
    office = city.units["office"]
    changed = [
        bureau | {"classified": True},
        {k: v for k, v in office.items() if k != "parent_code"},
    ]
    response = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": changed},
        headers=headers_for("establishment", CITY),
    )
    assert response.status_code == 201, response.text
    secret = bureau["unit_code"]
    # the bureau itself is withdrawn ...
    assert client.get(f"/public/v1/disclosures/{CITY}/units/{secret}").status_code == 404
    # ... the office is still public, and must not name it
    unit = client.get(f"/public/v1/disclosures/{CITY}/units/{office['unit_code']}")
    assert unit.status_code == 200
    assert secret not in unit.text
    listing = client.get(f"/public/v1/disclosures/{CITY}")
    assert secret not in listing.text
    page = client.get(f"/public/disclosures/{CITY}/units/{office['unit_code']}")
    assert page.status_code == 200
    assert secret not in page.text


def test_every_publication_in_the_history_can_be_opened(
    client: TestClient, headers_for: HeadersFor, city: City, publish
) -> None:
    """Two publications the same day (a correction after the secrecy review): the region page's
    history links the first by its day, which opens the second."""
    first = publish(as_of="2025-12-31")
    second = publish()
    assert first["id"] != second["id"]
    page = client.get(f"/public/disclosures/{CITY}")
    links = re.findall(r'href="(/public/disclosures/\d+\?date=[^"]+)"', page.text)
    assert links, page.text
    opened = client.get(links[0].replace("&amp;", "&"))
    assert opened.status_code == 200
    # the earlier publication's link opens the earlier publication (as of 2025-12-31)
    assert 'datetime="2025-12-31"' in opened.text, opened.text


def test_x_forwarded_for_is_not_believed_without_trusted_proxies(tmp_path: Path) -> None:
    """README: LINKAGE_TRUSTED_PROXIES (default []) names whose X-Forwarded-For is believed;
    a header from anyone else is ignored, so a client cannot choose its own address. A real
    `linkage-hub serve` with no trusted proxies, reached from 127.0.0.1 (a local proxy that
    passes headers through): a client changing X-Forwarded-For gets past the per-address
    limit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    env["LINKAGE_DATA_DIR"] = str(tmp_path)
    env["LINKAGE_PUBLIC_REQUESTS_PER_MINUTE"] = "3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "linkage_hub.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        plain = [httpx.get(f"{base}/public/assets/public.css").status_code for _ in range(4)]
        assert plain == [200, 200, 200, 429], plain  # the limit holds for 127.0.0.1 itself
        statuses = [
            httpx.get(
                f"{base}/public/assets/public.css",
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            ).status_code
            for n in range(1, 7)
        ]
        # one address, three a minute: the fourth on is refused whatever the header says
        assert statuses == [200, 200, 200, 429, 429, 429], statuses
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_an_id_number_typed_into_a_unit_is_not_published(
    client: TestClient, headers_for: HeadersFor, city: City, publish
) -> None:
    """The office typed a person's ID number into a unit's functions and a quota's document
    number (the console masks such numbers in every free text; the 12310 follow-up masks
    them since 2026-12-06). The public face must not print it."""
    number = city.id_numbers[0]
    bureau = city.units["bureau"] | {"functions": f"负责人 {number} 主持全面工作。"}
    response = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [bureau]},
        headers=headers_for("establishment", CITY),
    )
    assert response.status_code == 201, response.text
    publish()
    code = bureau["unit_code"]
    for path in (
        f"/public/v1/disclosures/{CITY}/units/{code}",
        f"/public/v1/disclosures/{CITY}",
        f"/public/disclosures/{CITY}/units/{code}",
    ):
        answer = client.get(path)
        assert answer.status_code == 200
        assert number not in answer.text, path


def test_a_dated_page_revalidated_after_a_new_publication_is_not_the_old_page(
    client: TestClient, headers_for: HeadersFor, city: City, publish, monkeypatch
) -> None:
    """A browser holding the region page of a past day revalidates it (If-None-Match) after
    the office publishes again: the page now lists one more publication in its history (the
    body changed), yet the ETag is the same and the hub answers 304: the browser keeps the
    old page."""
    import datetime as dt

    from linkage_hub.public import disclosures

    monkeypatch.setattr(
        disclosures, "utcnow", lambda: dt.datetime(2026, 1, 10, 3, 0, tzinfo=dt.UTC)
    )
    publish(as_of="2026-01-09")
    monkeypatch.undo()
    path = f"/public/disclosures/{CITY}?date=2026-01-10"
    first = client.get(path)
    assert first.status_code == 200 and 'datetime="2026-01-09"' in first.text
    publish()  # today: the 2026-01-10 page's history gains an entry
    fresh = client.get(path)
    assert fresh.text != first.text  # the page did change
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200, "304 for a page whose content changed"
