"""The demo city (records room) yields findings of every rule, and exactly its planted ones.

The generator lives on the records branch; until both are merged this module is skipped.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from linkage_hub.db import Database
from linkage_hub.keys import Keyring
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.rules import RuleCode
from linkage_hub.reconciliation.service import id_number_of
from linkage_hub.settings import Settings
from linkage_hub.versioning import region_bounds
from tests.reconciliation.conftest import Reconcile

demo_data = pytest.importorskip("linkage_hub.records.demo_data")
demo = pytest.importorskip("linkage_hub.records.demo")


def test_the_demo_city_yields_its_planted_findings(
    settings: Settings, database: Database, reconcile: Reconcile
) -> None:
    city = demo_data.generate_city(2026, 3000)
    demo.load_city(settings, database, city)
    result = reconcile(region="230000", period=demo_data.PERIOD, as_of=dt.date(2026, 11, 27))
    with database.transaction() as session:
        rows = session.execute(
            select(Finding, id_number_of(Finding.person_key, region_bounds("230000")))
        ).all()
    keyring = Keyring(settings)
    found = {
        demo_data.Finding(f.rule, id_number=keyring.reveal_id(number))
        if f.person_key
        else demo_data.Finding(
            f.rule, unit_code=f.unit_code, establishment_type=f.establishment_type, level=f.level
        )
        for f, number in rows
        if f.status != "resolved"
    }
    assert found == city.expected
    assert {f.rule for f in found} == set(RuleCode)
    assert result.run.skipped == {}
