"""Insert current record versions straight into the dataset tables, as the push API would.

ID numbers and names are normalised with :mod:`linkage_hub.identifiers` and keyed with the
:class:`Keyring`, exactly as the push API stores them, so rule tests exercise the real join
(``person_key``) without going through HTTP.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, update

from linkage_hub.db import Database
from linkage_hub.identifiers import (
    id_check_char,
    normalise_citizen_id,
    normalise_name,
    unit_code_region,
    uscc_check_char,
)
from linkage_hub.keys import Keyring
from linkage_hub.records.models import CadreRecord, EmploymentRecord, PayrollRecord, RosterRecord
from linkage_hub.registry.models import RegistryLeaderPost, RegistryQuota, RegistryUnit
from linkage_hub.settings import Settings

NOW = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)
_seq = itertools.count(1)


def citizen_id(n: int, region: str = "230102", born: str = "19800101") -> str:
    body = f"{region}{born}{n % 1000:03d}"
    return body + id_check_char(body)


def unit_code(n: int, region: str = "230102", kind: str = "11") -> str:
    body = f"{kind}{region}{n:09d}"
    return body + uscc_check_char(body)


class Factory:
    """One test's data: ``unit(...)``, ``roster(...)``, ``payroll(...)`` and friends."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.keys = Keyring(settings)
        self.unit_regions: dict[str, str] = {}

    def person_key(self, id_number: str) -> str:
        return self.keys.person_key(normalise_citizen_id(id_number))

    def _insert(self, model: Any, dataset: str, natural: tuple[str, ...], **row: Any) -> str:
        key = self.keys.record_key(dataset, *natural)
        with self.db.transaction() as session:
            session.execute(
                update(model)
                .where(model.record_key == key, model.closed_at.is_(None))
                .values(closed_at=NOW)
            )
            version = next(_seq)
            session.execute(
                insert(model).values(
                    record_key=key,
                    version=version,
                    batch_id=str(uuid.uuid4()),
                    client_id="factory",
                    recorded_at=NOW,
                    **row,
                )
            )
        return key

    def close(self, model: Any, record_key: str) -> None:
        with self.db.transaction() as session:
            session.execute(
                update(model)
                .where(model.record_key == record_key, model.closed_at.is_(None))
                .values(closed_at=NOW)
            )

    def _region(self, code: str) -> str:
        return self.unit_regions.get(code, unit_code_region(code))

    def _person(self, id_number: str, unit: str, name: str) -> dict[str, Any]:
        number = normalise_citizen_id(id_number)
        return {
            "person_key": self.keys.person_key(number),
            "id_number": number,
            "id_number_given": id_number if id_number != number else None,
            "unit_code": unit,
            "name": name,
            "name_norm": normalise_name(name),
            "region": self._region(unit),
        }

    # --- registry -----------------------------------------------------------------------

    def unit(
        self,
        code: str,
        *,
        kind: str = "organ",
        funding: str = "full",
        status: str = "active",
        abolished_on: dt.date | None = None,
        parent: str | None = None,
        internal_unit_limit: int | None = None,
        region: str | None = None,
        name: str = "测试单位",
    ) -> str:
        region = region or unit_code_region(code)
        self.unit_regions[code] = region
        return self._insert(
            RegistryUnit,
            "units",
            (code,),
            unit_code=code,
            name=name,
            kind=kind,
            funding=funding,
            parent_code=parent,
            classified=False,
            internal_unit_limit=internal_unit_limit,
            status=status,
            abolished_on=abolished_on,
            region=region,
        )

    def quota(
        self,
        code: str,
        establishment_type: str,
        approved: int,
        effective_on: dt.date | None = None,
    ) -> str:
        return self._insert(
            RegistryQuota,
            "quotas",
            (code, establishment_type),
            unit_code=code,
            establishment_type=establishment_type,
            approved=approved,
            document_no="哈编〔2026〕1号",
            effective_on=effective_on,
            region=self._region(code),
        )

    def leader_posts(
        self, code: str, level: str, approved: int, effective_on: dt.date | None = None
    ) -> str:
        return self._insert(
            RegistryLeaderPost,
            "leader_posts",
            (code, level),
            unit_code=code,
            level=level,
            approved=approved,
            effective_on=effective_on,
            region=self._region(code),
        )

    # --- person datasets ----------------------------------------------------------------

    def roster(
        self,
        id_number: str,
        unit: str,
        *,
        establishment_type: str = "administrative",
        status: str = "active",
        exited_on: dt.date | None = None,
        entered_on: dt.date | None = None,
        name: str = "张三",
    ) -> str:
        person = self._person(id_number, unit, name)
        return self._insert(
            RosterRecord,
            "roster",
            (person["id_number"], unit),
            establishment_type=establishment_type,
            status=status,
            exited_on=exited_on,
            entered_on=entered_on,
            exit_reason="retirement" if status == "exited" else None,
            **person,
        )

    def employment(
        self,
        id_number: str,
        unit: str,
        *,
        category: str = "civil_servant",
        status: str = "active",
        status_on: dt.date | None = None,
        name: str = "张三",
    ) -> str:
        person = self._person(id_number, unit, name)
        return self._insert(
            EmploymentRecord,
            "employment",
            (person["id_number"], unit),
            category=category,
            status=status,
            status_on=status_on,
            **person,
        )

    def cadre(
        self,
        id_number: str,
        unit: str,
        *,
        leader_level: str = "none",
        civil_servant_registered: bool = False,
        status: str = "active",
        removed_on: dt.date | None = None,
        name: str = "张三",
    ) -> str:
        person = self._person(id_number, unit, name)
        return self._insert(
            CadreRecord,
            "cadres",
            (person["id_number"], unit),
            leader_level=leader_level,
            civil_servant_registered=civil_servant_registered,
            status=status,
            removed_on=removed_on,
            **person,
        )

    def payroll(
        self,
        id_number: str,
        unit: str,
        *,
        period: str = "2026-10",
        establishment_type: str = "administrative",
        funding: str = "budget",
        status: str = "paid",
        gross_pay: str = "8532.50",
        name: str = "张三",
    ) -> str:
        person = self._person(id_number, unit, name)
        return self._insert(
            PayrollRecord,
            "payroll",
            (period, person["id_number"], unit),
            period=period,
            establishment_type=establishment_type,
            funding=funding,
            status=status,
            gross_pay=Decimal(gross_pay),
            **person,
        )

    def consistent(
        self, id_number: str, unit: str, *, establishment_type: str = "administrative"
    ) -> None:
        """A person roster, HR and payroll agree on."""
        self.roster(id_number, unit, establishment_type=establishment_type)
        category = "institution_staff" if establishment_type == "institutional" else "civil_servant"
        self.employment(id_number, unit, category=category)
        self.payroll(id_number, unit, establishment_type=establishment_type)
