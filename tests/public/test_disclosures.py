"""Publishing a region's staffing disclosure and reading it back without a token."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError

from linkage_hub.db import Database
from linkage_hub.public import disclosures
from linkage_hub.public.models import Disclosure, DisclosureUnit
from tests.conftest import HeadersFor
from tests.public.conftest import CITY, City, organ
from tests.records import factory as f

PUBLIC = {"bureau", "office", "school", "county_a", "county_b"}


def units_of(client: TestClient, region: str = CITY, **params: str) -> dict[str, dict]:
    response = client.get(f"/public/v1/disclosures/{region}", params=params)
    assert response.status_code == 200, response.text
    return {u["unit_code"]: u for u in response.json()["units"]}


def test_nothing_is_public_before_publication(client: TestClient, city: City) -> None:
    assert client.get(f"/public/v1/disclosures/{CITY}").status_code == 404
    code = city.public_code["bureau"]
    assert client.get(f"/public/v1/disclosures/{CITY}/units/{code}").status_code == 404


def test_published_units_and_their_figures(client: TestClient, city: City, publish) -> None:
    published = publish()
    assert published["unit_count"] == len(PUBLIC)
    units = units_of(client)
    code = city.public_code
    assert set(units) == {code[k] for k in PUBLIC}
    bureau = units[code["bureau"]]
    assert bureau["name"] == "市教育局" and bureau["kind"] == "organ"
    assert bureau["functions"].startswith("负责全市教育事业")
    assert {u["unit_code"] for u in bureau["internal_units"]} == {code["office"], code["school"]}
    quotas = {q["establishment_type"]: q for q in bureau["quotas"]}
    assert (quotas["administrative"]["approved"], quotas["administrative"]["on_roster"]) == (3, 4)
    assert quotas["administrative"]["document_no"] == "哈编〔2024〕1号"
    assert (quotas["worker"]["approved"], quotas["worker"]["on_roster"]) == (2, 0)
    posts = {p["level"]: (p["approved"], p["serving"]) for p in bureau["leader_posts"]}
    assert posts == {"principal": (1, 1), "deputy": (2, 1)}  # the removed deputy is gone
    school = units[code["school"]]
    # person 4 also works at the bureau; person 6 has left
    assert [(q["approved"], q["on_roster"]) for q in school["quotas"]] == [(5, 2)]
    assert school["parent_code"] == code["bureau"] and school["leader_posts"] == []


def test_figures_equal_the_staffing_report(
    client: TestClient, headers_for: HeadersFor, city: City, publish
) -> None:
    publish()
    report = client.get(
        "/api/v1/reports/staffing",
        params={"region": CITY},
        headers=headers_for("audit", CITY),
    ).json()["items"]
    staffing = {
        (r["unit_code"], r["establishment_type"]): (r["approved"], r["on_roster"]) for r in report
    }
    shown = {
        (u["unit_code"], q["establishment_type"]): (q["approved"], q["on_roster"])
        for u in units_of(client).values()
        for q in u["quotas"]
    }
    assert shown  # the city has public quotas
    assert shown == {k: v for k, v in staffing.items() if k[0] not in city.hidden}


def test_classified_units_and_all_under_them_are_404_like_nothing(
    client: TestClient, city: City, publish
) -> None:
    publish()
    nowhere = f.unit_code(999)
    expected = client.get(f"/public/v1/disclosures/{CITY}/units/{nowhere}")
    assert expected.status_code == 404
    for code in city.hidden:
        for region in (CITY, "230102"):
            response = client.get(f"/public/v1/disclosures/{region}/units/{code}")
            assert response.status_code == 404
    hidden = client.get(f"/public/v1/disclosures/{CITY}/units/{city.public_code['branch']}")
    assert hidden.json()["detail"] == expected.json()["detail"]


def test_a_publication_is_a_snapshot(
    client: TestClient,
    headers_for: HeadersFor,
    city: City,
    publish,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first publication was made ten days ago.
    ten_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    monkeypatch.setattr("linkage_hub.public.disclosures.utcnow", lambda: ten_days_ago)
    publish()
    monkeypatch.undo()
    school = city.public_code["school"]
    more = [f.roster(n, 3) | {"unit_code": school} for n in (20, 21)]
    pushed = client.post(
        "/api/v1/datasets/roster/batches",
        json={"records": more},
        headers=headers_for("establishment", CITY),
    )
    assert pushed.status_code == 201
    assert units_of(client)[school]["quotas"][0]["on_roster"] == 2  # not yet published
    publish()
    assert units_of(client)[school]["quotas"][0]["on_roster"] == 4
    then = (ten_days_ago + dt.timedelta(days=1)).date().isoformat()
    assert units_of(client, date=then)[school]["quotas"][0]["on_roster"] == 2
    before = (ten_days_ago - dt.timedelta(days=2)).date().isoformat()
    assert client.get(f"/public/v1/disclosures/{CITY}", params={"date": before}).status_code == 404


def test_preview_shows_without_publishing(
    client: TestClient, headers_for: HeadersFor, city: City
) -> None:
    response = client.get(
        "/api/v1/disclosures/preview",
        params={"region": CITY},
        headers=headers_for("establishment", CITY),
    )
    assert response.status_code == 200
    assert {u["unit_code"] for u in response.json()["units"]} == {
        city.public_code[k] for k in PUBLIC
    }
    assert client.get(f"/public/v1/disclosures/{CITY}").status_code == 404


def test_who_may_publish(client: TestClient, headers_for: HeadersFor, city: City) -> None:
    body = {"region": CITY}
    for department in ("hr", "finance", "organization", "audit"):
        response = client.post(
            "/api/v1/disclosures", json=body, headers=headers_for(department, CITY)
        )
        assert response.status_code == 403
    county = client.post(
        "/api/v1/disclosures", json=body, headers=headers_for("establishment", "230102")
    )
    assert county.status_code == 404
    unknown = client.post(
        "/api/v1/disclosures",
        json={"region": "230999"},
        headers=headers_for("establishment", "230000"),
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "region"


def test_a_county_publication_shows_the_county_only(
    client: TestClient, city: City, publish
) -> None:
    publish("230102")
    assert set(units_of(client, "230102")) == {city.public_code["county_a"]}


def test_pages_of_units_and_caching(client: TestClient, city: City, publish) -> None:
    publish()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        body = client.get(f"/public/v1/disclosures/{CITY}", params=params).json()
        seen += [u["unit_code"] for u in body["units"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(city.public_code[k] for k in PUBLIC)
    first = client.get(f"/public/v1/disclosures/{CITY}")
    etag = first.headers["etag"]
    # kept by caches, but asked again each time: a unit classified since is withdrawn at once
    assert first.headers["cache-control"] == "public, no-cache"
    again = client.get(f"/public/v1/disclosures/{CITY}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_publishing_is_audited(
    client: TestClient, headers_for: HeadersFor, city: City, publish
) -> None:
    published = publish()
    log = client.get(
        "/api/v1/audit-log",
        params={"action": "disclosure.publish"},
        headers=headers_for("audit", "230000"),
    ).json()["items"]
    assert [e["target_id"] for e in log] == [published["id"]]
    listed = client.get("/api/v1/disclosures", headers=headers_for("establishment", CITY)).json()
    assert [d["id"] for d in listed["items"]] == [published["id"]]


def test_the_database_refuses_to_change_or_drop_a_young_publication(
    client: TestClient, city: City, publish, database: Database
) -> None:
    published = publish()
    attempts = [
        update(Disclosure).where(Disclosure.id == published["id"]).values(unit_count=0),
        delete(Disclosure).where(Disclosure.id == published["id"]),
        update(DisclosureUnit).values(name="改名"),
        delete(DisclosureUnit),
    ]
    for statement in attempts:
        with pytest.raises(DatabaseError), database.transaction() as session:
            session.execute(statement)
    assert len(units_of(client)) == len(PUBLIC)


def test_the_command_publishes_what_the_api_would(
    client: TestClient,
    city: City,
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    from linkage_hub import cli
    from linkage_hub.settings import get_settings

    monkeypatch.setenv("LINKAGE_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    assert cli.main(["disclosures", "publish", "--region", CITY]) == 0
    assert "5 units" in capsys.readouterr().out
    assert set(units_of(client)) == {city.public_code[k] for k in PUBLIC}
    assert cli.main(["disclosures", "publish", "--region", "239900"]) == 1
    assert "holds no units" in capsys.readouterr().err
    assert cli.main(["disclosures", "publish", "--region", "2301"]) == 1


def test_the_stored_units_have_the_documented_shape(
    client: TestClient, city: City, publish
) -> None:
    """The region's JSON sends the stored units as they are: each must be a PublicUnit."""
    from linkage_hub.public.schemas import PublicDisclosure

    publish()
    body = client.get(f"/public/v1/disclosures/{CITY}").json()
    parsed = PublicDisclosure.model_validate(body)
    assert parsed.model_dump(mode="json") == body


def test_a_classified_unit_deleted_keeps_its_subtree_dark(
    client: TestClient, headers_for: HeadersFor, city: City, publish
) -> None:
    secret = city.public_code["secret"]
    office = headers_for("establishment", CITY)
    listed = client.get("/api/v1/datasets/units/records", headers=office).json()["items"]
    [record] = [r for r in listed if r["unit_code"] == secret]
    path = f"/api/v1/datasets/units/records/{record['record_key']}"
    etag = client.get(path, headers=office).headers["etag"]
    deleted = client.delete(path, headers=office | {"If-Match": etag})
    assert deleted.status_code in (200, 204), deleted.text
    publish()
    shown = units_of(client)
    assert not set(shown) & city.hidden
    for code in (city.public_code["branch"], city.public_code["section"]):
        assert client.get(f"/public/v1/disclosures/{CITY}/units/{code}").status_code == 404


def test_a_unit_classified_after_publication_is_withdrawn_at_once(
    client: TestClient, headers_for: HeadersFor, city: City, publish
) -> None:
    publish()
    office = city.public_code["office"]
    bureau = city.public_code["bureau"]
    before = client.get(f"/public/v1/disclosures/{CITY}")
    assert office in {u["unit_code"] for u in before.json()["units"]}
    again = city.units["office"] | {"classified": True}
    pushed = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [again]},
        headers=headers_for("establishment", CITY),
    )
    assert pushed.status_code == 201
    after = client.get(
        f"/public/v1/disclosures/{CITY}", headers={"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200  # the tag changed with the withdrawal
    assert office not in {u["unit_code"] for u in after.json()["units"]}
    parent = client.get(f"/public/v1/disclosures/{CITY}/units/{bureau}").json()
    assert office not in {u["unit_code"] for u in parent["internal_units"]}
    assert client.get(f"/public/v1/disclosures/{CITY}/units/{office}").status_code == 404
    assert client.get(f"/public/disclosures/{CITY}/units/{office}").status_code == 404
    page = client.get(f"/public/disclosures/{CITY}/units/{bureau}")
    assert "市教育局办公室" not in page.text
    anything = client.get(
        f"/public/v1/disclosures/{CITY}/units/{office}", headers={"If-None-Match": "*"}
    )
    assert anything.status_code == 404


def test_out_of_range_inputs_are_422_not_500(
    client: TestClient, headers_for: HeadersFor, city: City, publish
) -> None:
    import base64
    import json

    publish()
    for path in (f"/public/disclosures/{CITY}", f"/public/disclosures/{CITY}/units/X"):
        response = client.get(path, params={"date": "9999-12-31"})
        assert response.status_code == 422 and "text/html" in response.headers["content-type"]
    huge = base64.urlsafe_b64encode(json.dumps([2**63 - 1, "x"]).encode()).decode().rstrip("=")
    listed = client.get(
        "/api/v1/disclosures", params={"cursor": huge}, headers=headers_for("establishment", CITY)
    )
    assert listed.status_code == 422


def test_all_units_without_a_limit(client: TestClient, city: City, publish) -> None:
    publish()
    body = client.get(f"/public/v1/disclosures/{CITY}").json()
    assert len(body["units"]) == len(PUBLIC) and body["next_cursor"] is None


def test_past_the_parameter_limit_the_statement_walks_the_hidden_units_itself(
    client: TestClient,
    city: City,
    publish,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """The hidden set goes to the list and count statements as bound values; past
    ``MAX_HIDDEN_PARAMETERS`` (SQLite takes 32,766) they walk the classified tree themselves,
    with the same answers."""
    publish()
    assert city.hidden
    bound = client.get(f"/public/v1/disclosures/{CITY}").json()
    index = client.get("/public/").text
    monkeypatch.setattr(disclosures, "MAX_HIDDEN_PARAMETERS", 0)
    walked = client.get(f"/public/v1/disclosures/{CITY}").json()
    assert walked == bound and bound["units"]
    assert not {u["unit_code"] for u in walked["units"]} & set(city.hidden)
    assert client.get("/public/").text == index


def test_a_public_read_runs_without_jit_on_postgresql(database: Database) -> None:
    """The classified walk's estimated cost passed jit_above_cost: compiling it took ~19 ms of
    a 21 ms walk that runs in 2 ms (bench/RESULTS.md). A public read turns JIT off for its
    own transaction only."""
    if database.dialect != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    with database.transaction() as session:
        disclosures.hidden_codes(session)
        assert session.execute(text("SHOW jit")).scalar_one() == "off"
    with database.transaction() as session:
        assert session.execute(text("SHOW jit")).scalar_one() == "on"


def test_dates_in_a_units_functions_are_published_as_written(
    client: TestClient, headers_for: HeadersFor
) -> None:
    """The masking of ID numbers in a unit's text (2026-12-06) must leave ordinary dates
    alone: three dates one a line read as a number born 2001-01-20 (a review of that change
    found the public page showing ``2019-1231**********2101-01``)."""
    functions = "机构改革时间节点：\n2019-12-31\n2020-01-01\n2021-01-01"
    unit = organ(41, name="市机构编制委员会办公室", functions=functions)
    office = headers_for("establishment", CITY)
    pushed = client.post("/api/v1/datasets/units/batches", json={"records": [unit]}, headers=office)
    assert pushed.status_code == 201, pushed.text
    published = client.post("/api/v1/disclosures", json={"region": CITY}, headers=office)
    assert published.status_code == 201, published.text
    answer = client.get(f"/public/v1/disclosures/{CITY}/units/{unit['unit_code']}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["functions"] == functions


def test_the_command_publishes_no_day_the_api_refuses(
    client: TestClient,
    headers_for: HeadersFor,
    city: City,
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """`disclosures publish --as-of` took any date: a scheduled job's typo (2099 for 2009, a
    year before the hub's dates) published a snapshot of figures on a day not yet come (people
    entering later counted on the roster) or of nothing, as the region's latest publication,
    which nobody can take back; the API refused a future day, took year 1. Now both refuse
    both, in one line naming `--as-of` (422 naming `as_of` from the API)."""
    from linkage_hub import cli
    from linkage_hub.settings import get_settings

    monkeypatch.setenv("LINKAGE_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    tomorrow = (settings.today() + dt.timedelta(days=1)).isoformat()
    for day, said in ((tomorrow, "future"), ("0001-01-01", "between"), ("2026-13-01", "a date")):
        assert cli.main(["disclosures", "publish", "--region", CITY, "--as-of", day]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"linkage-hub disclosures: --as-of {day}: ") and said in err, err
        assert "\n" not in err
    office = headers_for("establishment", CITY)
    for day, code in ((tomorrow, "future"), ("0001-01-01", "date_range")):
        for refused in (
            client.post("/api/v1/disclosures", json={"region": CITY, "as_of": day}, headers=office),
            client.get(
                "/api/v1/disclosures/preview", params={"region": CITY, "as_of": day}, headers=office
            ),
        ):
            assert refused.status_code == 422, refused.text
            assert [(e["field"], e["code"]) for e in refused.json()["errors"]][-1][1] == code
    assert client.get("/api/v1/disclosures", headers=office).json()["items"] == []
    assert client.get(f"/public/v1/disclosures/{CITY}").status_code == 404
    assert cli.main(["disclosures", "publish", "--region", CITY, "--as-of", "2026-01-01"]) == 0
