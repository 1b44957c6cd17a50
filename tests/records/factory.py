"""Valid identifiers and records for tests (no real persons: made-up, checksummed)."""

from __future__ import annotations

import json
from typing import Any

from linkage_hub.identifiers import id_check_char, uscc_check_char


def id_number(n: int, *, region: str = "230102", born: str = "19800101") -> str:
    body = f"{region}{born}{n % 1000:03d}"
    return body + id_check_char(body)


def legacy_id(n: int, *, region: str = "230102", born: str = "800101") -> str:
    """A 15-digit number: address, 6-digit birth date, 3-digit sequence."""
    return f"{region}{born}{n % 1000:03d}"


def unit_code(n: int, *, region: str = "230100", kind: str = "12") -> str:
    body = f"{kind}{region}MB{n:07d}"
    return body + uscc_check_char(body)


def roster(n: int, unit: int = 1, *, region: str = "230100", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id_number": id_number(n),
        "unit_code": unit_code(unit, region=region),
        "name": f"张{n}",
        "establishment_type": "institutional",
        "status": "active",
        "entered_on": "2020-01-01",
    }
    record.update(extra)
    return record


def payroll(n: int, unit: int = 1, *, period: str = "2026-10", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "period": period,
        "id_number": id_number(n),
        "unit_code": unit_code(unit),
        "name": f"张{n}",
        "establishment_type": "institutional",
        "funding": "budget",
        "gross_pay": "8532.50",
        "status": "paid",
    }
    record.update(extra)
    return record


def unit(n: int, *, region: str = "230100", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "unit_code": unit_code(n, region=region),
        "name": f"单位{n}",
        "region": region,
        "kind": "institution",
        "funding": "full",
        "status": "active",
    }
    record.update(extra)
    return record


def cadre(n: int, unit: int = 1, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id_number": id_number(n),
        "unit_code": unit_code(unit),
        "name": f"张{n}",
        "position": "科长",
        "leader_level": "none",
        "civil_servant_registered": False,
        "status": "active",
    }
    record.update(extra)
    return record


def employment(n: int, unit: int = 1, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id_number": id_number(n),
        "unit_code": unit_code(unit),
        "name": f"张{n}",
        "category": "institution_staff",
        "status": "active",
        "hired_on": "2020-01-01",
    }
    record.update(extra)
    return record


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n").encode()
