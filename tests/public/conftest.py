"""A city with the shapes a disclosure must get right, pushed through the API.

230100 (the city) and two counties, 230102 and 230103:

- the education bureau (organ) with an office and a school under it, quotas of two types and
  leader posts of both levels; cadres serving, one removed, one without a leader level;
- a classified bureau in the city whose branch sits in county 230102 (not classified itself)
  with a section under the branch: all three must stay unpublished;
- an abolished unit; a county unit in each county;
- people on the roster in two units at once, one who has left, one in the classified branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import OWNER

CITY = "230100"


def organ(n: int, region: str = CITY, **extra: Any) -> dict[str, Any]:
    return (
        f.unit(n, region=region, kind="organ")
        | {"unit_code": f.unit_code(n, region=region, kind="11")}
        | extra
    )


@dataclass
class City:
    units: dict[str, dict[str, Any]]
    hidden: set[str]  # unit codes that must never be public
    names: list[str]  # roster names: must never appear in a public answer
    id_numbers: list[str]
    public_code: dict[str, str] = field(default_factory=dict)  # label -> unit code


def build_city(client: TestClient, headers_for: HeadersFor) -> City:
    bureau = organ(1, name="市教育局", functions="负责全市教育事业发展规划。\n管理全市中小学。")
    office = organ(2, name="市教育局办公室", parent_code=bureau["unit_code"])
    school = f.unit(3, name="市第一中学", parent_code=bureau["unit_code"])
    secret = organ(4, name="市保密机构", classified=True)
    branch = organ(5, region="230102", name="保密分支", parent_code=secret["unit_code"])
    section = f.unit(6, region="230102", name="保密分支科室", parent_code=branch["unit_code"])
    county_a = organ(7, region="230102", name="南岗区教育局")
    county_b = f.unit(8, region="230103", name="道里区卫生院")
    gone = f.unit(9, name="已撤销中心", status="abolished", abolished_on="2024-01-01")
    units = {
        "bureau": bureau, "office": office, "school": school, "secret": secret,
        "branch": branch, "section": section, "county_a": county_a, "county_b": county_b,
        "gone": gone,
    }  # fmt: skip
    code = {k: u["unit_code"] for k, u in units.items()}
    quotas = [
        {"unit_code": code["bureau"], "establishment_type": "administrative", "approved": 3,
         "document_no": "哈编〔2024〕1号", "effective_on": "2024-01-01"},
        {"unit_code": code["bureau"], "establishment_type": "worker", "approved": 2,
         "document_no": "哈编〔2024〕2号", "effective_on": "2024-01-01"},
        {"unit_code": code["school"], "establishment_type": "institutional", "approved": 5,
         "document_no": "哈编〔2023〕9号", "effective_on": "2023-01-01"},
        {"unit_code": code["branch"], "establishment_type": "administrative", "approved": 4,
         "document_no": "密〔2024〕1号", "effective_on": "2024-01-01"},
        {"unit_code": code["county_a"], "establishment_type": "administrative", "approved": 6,
         "document_no": "南编〔2022〕3号", "effective_on": "2022-01-01"},
    ]  # fmt: skip
    posts = [
        {"unit_code": code["bureau"], "level": "principal", "approved": 1,
         "document_no": "哈编〔2024〕5号", "effective_on": "2024-01-01"},
        {"unit_code": code["bureau"], "level": "deputy", "approved": 2,
         "document_no": "哈编〔2024〕5号", "effective_on": "2024-01-01"},
    ]  # fmt: skip
    admin = {"establishment_type": "administrative"}
    roster = [
        f.roster(1, 1, **admin) | {"unit_code": code["bureau"]},
        f.roster(2, 1, **admin) | {"unit_code": code["bureau"]},
        f.roster(3, 1, **admin) | {"unit_code": code["bureau"]},
        f.roster(4, 1, **admin) | {"unit_code": code["bureau"]},  # one over the quota of 3
        f.roster(5, 3) | {"unit_code": code["school"]},
        f.roster(4, 3) | {"unit_code": code["school"]},  # person 4 in two units
        f.roster(6, 3, status="exited", exited_on="2025-06-30", exit_reason="retirement")
        | {"unit_code": code["school"]},  # has left: not on the roster
        f.roster(7, 5, **admin) | {"unit_code": code["branch"]},  # in the classified subtree
        f.roster(8, 7, **admin) | {"unit_code": code["county_a"]},
    ]
    cadres = [
        f.cadre(1, leader_level="principal", position="局长") | {"unit_code": code["bureau"]},
        f.cadre(2, leader_level="deputy", position="副局长") | {"unit_code": code["bureau"]},
        f.cadre(3, leader_level="deputy", position="副局长", status="removed",
                removed_on="2025-01-01") | {"unit_code": code["bureau"]},
        f.cadre(4, leader_level="none") | {"unit_code": code["bureau"]},
        f.cadre(7, leader_level="principal", position="主任") | {"unit_code": code["branch"]},
    ]  # fmt: skip
    for dataset, records in (
        ("units", list(units.values())),
        ("quotas", quotas),
        ("leader_posts", posts),
        ("roster", roster),
        ("cadres", cadres),
    ):
        response = client.post(
            f"/api/v1/datasets/{dataset}/batches",
            json={"records": records},
            headers=headers_for(OWNER[dataset], CITY),
        )
        assert response.status_code == 201, response.text
    return City(
        units=units,
        hidden={code["secret"], code["branch"], code["section"], code["gone"]},
        names=sorted({r["name"] for r in roster} | {c["name"] for c in cadres}),
        id_numbers=sorted({r["id_number"] for r in roster}),
        public_code=code,
    )


@pytest.fixture
def city(client: TestClient, headers_for: HeadersFor) -> City:
    return build_city(client, headers_for)


@pytest.fixture
def publish(client: TestClient, headers_for: HeadersFor):  # type: ignore[no-untyped-def]
    def do(region: str = CITY, **body: Any) -> dict[str, Any]:
        response = client.post(
            "/api/v1/disclosures",
            json={"region": region, **body},
            headers=headers_for("establishment", CITY),
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    return do


@pytest.fixture
def province_served(client: TestClient, headers_for: HeadersFor) -> None:
    """The hub serves city 230100: one unit in its county 230104 (where nothing else lives),
    so 12310 reports of the city and any of its counties are taken."""
    response = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(77, region="230104")]},
        headers=headers_for("establishment", "230000"),
    )
    assert response.status_code == 201, response.text
