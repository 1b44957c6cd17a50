"""Single records: ETag on read, If-Match on PUT and DELETE."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, Read


def key_of(read: Read, number: str) -> str:
    return str(next(r["record_key"] for r in read("roster") if r["id_number"] == number))


class TestETags:
    def test_get_put_delete(
        self, push: Push, read: Read, client: TestClient, headers_for: HeadersFor
    ) -> None:
        push("roster", [f.roster(1)])
        key = key_of(read, f.id_number(1))
        url = f"/api/v1/datasets/roster/records/{key}"
        owner = headers_for("establishment")
        got = client.get(url, headers=headers_for("hr"))
        assert got.status_code == 200 and got.headers["etag"] == '"v1"'
        assert got.json()["name"] == "张1"

        body = f.roster(1, name="张一")
        assert client.put(url, json=body, headers=owner).status_code == 428
        stale = client.put(url, json=body, headers={**owner, "If-Match": '"v7"'})
        assert stale.status_code == 412
        done = client.put(url, json=body, headers={**owner, "If-Match": '"v1"'})
        assert done.status_code == 200, done.text
        assert done.headers["etag"] == '"v2"' and done.json()["name"] == "张一"
        assert client.put(url, json=body, headers={**owner, "If-Match": '"v1"'}).status_code == 412

        assert client.delete(url, headers=owner).status_code == 428
        assert client.delete(url, headers={**owner, "If-Match": '"v1"'}).status_code == 412
        assert client.delete(url, headers={**owner, "If-Match": '"v2"'}).status_code == 204
        assert client.get(url, headers=owner).status_code == 404
        history = client.get(f"{url}/history", headers=owner).json()["items"]
        assert [i["version"] for i in history] == [1, 2]
        assert history[-1]["closed_at"] is not None

    def test_put_checks_the_body(
        self, push: Push, read: Read, client: TestClient, headers_for: HeadersFor
    ) -> None:
        push("roster", [f.roster(1)])
        url = f"/api/v1/datasets/roster/records/{key_of(read, f.id_number(1))}"
        owner = {**headers_for("establishment"), "If-Match": '"v1"'}
        other_person = client.put(url, json=f.roster(2), headers=owner)
        assert other_person.status_code == 422
        assert other_person.json()["errors"][0]["code"] == "key_mismatch"
        bad = client.put(url, json=f.roster(1, status="nope"), headers=owner)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
        assert client.put(url, content=b"{", headers=owner).status_code == 422
        same = client.put(url, json=f.roster(1), headers=owner)
        assert same.status_code == 200 and same.headers["etag"] == '"v1"'

    def test_only_the_owner_in_its_region_writes(
        self, push: Push, read: Read, client: TestClient, headers_for: HeadersFor
    ) -> None:
        push("roster", [f.roster(1)])
        url = f"/api/v1/datasets/roster/records/{key_of(read, f.id_number(1))}"
        match = {"If-Match": '"v1"'}
        assert client.delete(url, headers={**headers_for("hr"), **match}).status_code == 403
        county = {**headers_for("establishment", "230102"), **match}
        assert client.delete(url, headers=county).status_code == 404
