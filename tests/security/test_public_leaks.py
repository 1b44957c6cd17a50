"""API1/API3 on the public face: nothing that is not meant to be public leaves through it.

Every public page and JSON answer of a published city — crawled from ``/public/`` by following
every link, plus the JSON of every unit, the hidden units, the 12310 form, a receipt and a
follow-up after the office has worked the case — is scanned for the roster's ID numbers and
names, the cadres' names, the reporter's contact, and the codes and names of classified units
and everything under them.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.cases.models import Case
from linkage_hub.db import Database
from linkage_hub.identifiers import mask_citizen_id, mask_id_numbers_in
from linkage_hub.public.models import Disclosure, DisclosureUnit
from tests.conftest import HeadersFor
from tests.public.conftest import CITY, City

pytestmark = pytest.mark.usefixtures("province_served")
# An ID number stands alone; a digit run inside a longer token (a request id is 32 hex
# characters, and 18 of them in a row can be digits) is not one.
ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "action") and value:
                self.hrefs.append(value)


def crawl(client: TestClient, start: str = "/public/", cap: int = 300) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    queue = [start]
    while queue and len(seen) < cap:
        path = queue.pop(0)
        if path in seen or not path.startswith("/public"):
            continue
        response = client.get(path)
        seen[path] = response
        if response.headers.get("content-type", "").startswith("text/html"):
            parser = Links()
            parser.feed(response.text)
            queue += [h.replace("&amp;", "&") for h in parser.hrefs if h.startswith("/public")]
    return seen


def forbidden_strings(city: City) -> list[str]:
    hidden_names = [u["name"] for k, u in city.units.items() if u["unit_code"] in city.hidden]
    return [*city.id_numbers, *city.names, *city.hidden, *hidden_names, "李四", "13800000000"]


def assert_clean(path: str, response: Any, forbidden: list[str]) -> None:
    text = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for value in forbidden:
        assert value not in text, f"{value!r} in {path}"
    assert not ID_PATTERN.search(response.text), f"an ID-number-shaped value in {path}"


def test_no_public_answer_leaks_a_person_or_a_classified_unit(
    client: TestClient, headers_for: HeadersFor, database: Database, city: City, publish
) -> None:
    publish()
    publish("230102")
    receipt = client.post(
        "/public/v1/reports",
        json={
            "category": "ghost_pay",
            "region": CITY,
            "unit_code": city.public_code["bureau"],
            "facts": "举报内容",
            "contact": {"name": "李四", "phone": "13800000000"},
        },
    )
    assert receipt.status_code == 201
    code, secret = receipt.json()["tracking_code"], receipt.json()["secret"]
    with database.transaction() as session:
        case_id = session.scalar(select(Case.id).where(Case.tracking_code == code))
    office = headers_for("establishment", CITY)
    # An office quoting a person's ID number, as typed or in groups, in what the reporter reads.
    number = city.id_numbers[0]
    grouped = f"{number[:6]} {number[6:14]} {number[14:]}"
    steps = (
        {"to": "accepted"},
        {"to": "in_progress"},
        {"to": "extended", "reason": f"需核实{number}的工资发放"},
        {"to": "closed", "reply": f"已核查，情况属实，已整改（{grouped}）。"},
    )
    for body in steps:
        assert (
            client.post(
                f"/api/v1/cases/{case_id}/transitions", json=body, headers=office
            ).status_code
            == 200
        )

    answers = crawl(client)
    assert len(answers) >= 8, sorted(answers)  # index, two regions, units, the form
    for unit in city.units.values():
        for region in (CITY, "230102", "230103"):
            path = f"/public/v1/disclosures/{region}/units/{unit['unit_code']}"
            answers[path] = client.get(path)
            page = f"/public/disclosures/{region}/units/{unit['unit_code']}"
            answers[page] = client.get(page)
    for region in (CITY, "230102"):
        answers[f"/public/v1/disclosures/{region}"] = client.get(f"/public/v1/disclosures/{region}")
    answers["follow JSON"] = client.get(
        f"/public/v1/reports/{code}", headers={"X-Report-Secret": secret}
    )
    answers["follow page"] = client.post(f"/public/12310/{code}", data={"secret": secret})
    answers["receipt page"] = client.post(
        "/public/12310", data={"category": "other", "region": CITY, "facts": "x"}
    )
    followed = answers["follow JSON"].json()
    assert followed["reply"] == f"已核查，情况属实，已整改（{mask_id_numbers_in(grouped)}）。"
    assert followed["extension_reason"] == f"需核实{mask_citizen_id(number)}的工资发放"
    forbidden = forbidden_strings(city)
    for path, response in answers.items():
        assert response.status_code < 500, path
        assert_clean(path, response, forbidden)
    for hidden in city.hidden:
        assert answers[f"/public/v1/disclosures/{CITY}/units/{hidden}"].status_code == 404


def test_the_secret_never_travels_in_a_url(client: TestClient) -> None:
    done = client.post("/public/12310", data={"category": "other", "region": CITY, "facts": "x"})
    secret = re.search(r'id="receipt-secret">([^<]+)<', done.text).group(1)  # type: ignore[union-attr]
    parser = Links()
    parser.feed(done.text)
    assert parser.hrefs and all(secret not in href for href in parser.hrefs)
    assert done.headers["referrer-policy"] == "no-referrer"


def test_what_the_office_writes_is_escaped_on_the_public_page(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    receipt = client.post(
        "/public/v1/reports", json={"category": "other", "region": CITY, "facts": "x"}
    ).json()
    with database.transaction() as session:
        case_id = session.scalar(
            select(Case.id).where(Case.tracking_code == receipt["tracking_code"])
        )
    office = headers_for("establishment", CITY)
    for body in ({"to": "accepted"}, {"to": "in_progress"}):
        client.post(f"/api/v1/cases/{case_id}/transitions", json=body, headers=office)
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    closed = client.post(
        f"/api/v1/cases/{case_id}/transitions",
        json={"to": "closed", "reply": hostile},
        headers=office,
    )
    assert closed.status_code == 200
    page = client.post(
        f"/public/12310/{receipt['tracking_code']}", data={"secret": receipt["secret"]}
    )
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    form = client.post("/public/12310", data={"category": "", "region": CITY, "facts": hostile})
    assert form.status_code == 422 and "<script>" not in form.text


def test_an_id_number_typed_into_a_unit_is_not_published(
    client: TestClient, headers_for: HeadersFor, database: Database, city: City, publish
) -> None:
    """The office typed a person's ID number into a unit's functions (the console masks such
    numbers in every free text, the 12310 follow-up too): the public face printed it in full,
    in the unit's JSON, the region's list and the unit page. Now a unit's free text (name,
    functions, document numbers, internal bodies' names) is masked when published, and again
    when read, so a snapshot stored before (written here as it was stored) is read masked."""
    number = city.id_numbers[0]
    bureau = city.units["bureau"] | {"functions": f"负责人 {number} 主持全面工作。"}
    response = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [bureau]},
        headers=headers_for("establishment", CITY),
    )
    assert response.status_code == 201, response.text
    code = bureau["unit_code"]
    paths = (
        f"/public/v1/disclosures/{CITY}/units/{code}",
        f"/public/v1/disclosures/{CITY}",
        f"/public/disclosures/{CITY}/units/{code}",
    )
    published = publish()
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 200
        assert number not in answer.text, path
    assert mask_citizen_id(number) in client.get(paths[0]).json()["functions"]
    # a snapshot stored before the masking (publications are immutable: written as a second
    # one): the number in its functions, a document number and an internal body's name
    with database.transaction() as session:
        stored = session.scalar(
            select(DisclosureUnit).where(
                DisclosureUnit.disclosure_id == published["id"], DisclosureUnit.unit_code == code
            )
        )
        assert stored is not None
        content = dict(stored.content)
        content["functions"] = f"负责人 {number}"
        content["quotas"] = [q | {"document_no": f"哈编 {number}"} for q in content["quotas"]]
        content["internal_units"] = [
            c | {"name": f"{c['name']}{number}"} for c in content["internal_units"]
        ]
        old = session.get(Disclosure, published["id"])
        assert old is not None
        before = uuid.uuid4().hex
        session.add(
            Disclosure(
                id=before,
                region=CITY,
                as_of=old.as_of,
                published_at=old.published_at - dt.timedelta(days=1),
                published_by=old.published_by,
                unit_count=1,
            )
        )
        session.flush()
        session.add(
            DisclosureUnit(
                disclosure_id=before,
                unit_code=code,
                parent_code=None,
                name=stored.name,
                content=content,
            )
        )
    for path in paths:
        answer = client.get(path, params={"publication": before})
        assert answer.status_code == 200, answer.text
        assert number not in answer.text, path
