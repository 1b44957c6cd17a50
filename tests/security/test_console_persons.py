"""Attacks on the console's person search (API1 and API3 through the browser): a reveal without
the session's CSRF token, a reveal with another session's form, and the ID number leaking into
the access log by way of the address.

A reveal is the one console read that writes (its ``person.reveal`` audit entry), so it must be
a form post of this session; the sealed ``ref`` its button carries opens only in the session
that was shown the page.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.identifiers import mask_citizen_id
from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as
from tests.records import factory as f
from tests.records.conftest import Push

__all__ = ["console_as"]

NUMBER = f.id_number(7)
REF = re.compile(r'name="ref" value="([^"]+)"')


@pytest.fixture
def person(push: Push) -> str:
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("roster", [f.roster(7)]).status_code == 201
    return NUMBER


def _reveals(client: TestClient, headers_for: HeadersFor) -> list[dict[str, Any]]:
    response = client.get(
        "/api/v1/audit-log",
        params={"id_number": NUMBER, "action": "person.reveal"},
        headers=headers_for("audit", "230100"),
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestNoRevealWithoutTheForm:
    def test_no_reveal_without_the_csrf_token(
        self, person: str, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        officer = console_as("audit", "230100")
        (ref,) = REF.findall(officer.post("/console/persons", {"id_number": person}).text)
        for data in ({"ref": ref, "reveal": "1"}, {"id_number": person, "reveal": "1"}):
            forged = officer.browser.post("/console/persons", data=data, follow_redirects=False)
            assert forged.status_code == 403
            assert person not in forged.text
            wrong = {**data, "csrf_token": "0" * 64}
            forged = officer.browser.post("/console/persons", data=wrong, follow_redirects=False)
            assert forged.status_code == 403
            assert person not in forged.text
        assert _reveals(client, headers_for) == []

    def test_another_sessions_form_does_not_open(
        self, person: str, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        shown = console_as("audit", "230100").post("/console/persons", {"id_number": person})
        (ref,) = REF.findall(shown.text)
        thief = console_as("audit", "230100")
        stolen = thief.post("/console/persons", {"ref": ref, "reveal": "1"})
        assert stolen.status_code == 422
        assert person not in stolen.text
        for forged in (person, "v1:" + "A" * 40, "x" * 300):
            answer = thief.post("/console/persons", {"ref": forged, "reveal": "1"})
            assert answer.status_code == 422
        assert _reveals(client, headers_for) == []


class TestTheAccessLog:
    def test_the_search_line_holds_no_id_number(
        self, person: str, console_as: ConsoleAs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        officer = console_as("hr", "230100")
        capsys.readouterr()
        assert officer.post("/console/persons", {"id_number": person}).status_code == 200
        assert officer.post("/console/persons", {"id_number": person.lower()}).status_code == 200
        logged = capsys.readouterr()
        lines = [
            json.loads(line)
            for line in (logged.err + logged.out).splitlines()
            if line.startswith("{") and '"request"' in line
        ]
        searches = [x for x in lines if x.get("route") == "/console/persons"]
        assert len(searches) == 2
        assert all(x["target"] == "/console/persons" for x in searches)
        text = logged.err + logged.out
        assert person not in text and person[:17] not in text
        assert mask_citizen_id(person) not in text  # not even masked: it is not in the address
