"""The person view: one person's current records across the departments.

Beside them, the person's live discrepancies (findings not resolved) inside the caller's region.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linkage_hub.auth.principal import Principal
from linkage_hub.domain import Dataset
from linkage_hub.errors import NotFound
from linkage_hub.identifiers import IdentifierError, parse_citizen_id
from linkage_hub.keys import Keyring
from linkage_hub.persons.schemas import PersonView
from linkage_hub.reconciliation.service import live_findings_for_person
from linkage_hub.records.datasets import spec_for
from linkage_hub.records.schemas import Record
from linkage_hub.records.seen import as_seen
from linkage_hub.records.service import invalid
from linkage_hub.records.shaping import record_columns, shape_all
from linkage_hub.settings import Settings

SIDE_BY_SIDE = (Dataset.roster, Dataset.cadres, Dataset.employment, Dataset.payroll)


def regions_read(view: PersonView) -> frozenset[str]:
    """The regions a person view sends something of, for its read entry (and a console
    reveal's): its records' and its findings'. A finding may lie where the reader holds no
    record of the person (its region's records deleted, the finding live until a run settles
    it): it is read there all the same, as the findings list files it."""
    records = {r["region"] for rows in view.records.values() for r in rows}
    findings = {d.region for d in view.discrepancies}
    return frozenset(
        records | findings | {r for d in view.discrepancies for _, r in d.persons_read()}
    )


def person_view(
    session: Session,
    keyring: Keyring,
    settings: Settings,
    principal: Principal,
    id_number: str,
    period: str | None = None,
) -> PersonView:
    try:
        number = parse_citizen_id(id_number, today=settings.today()).number
    except IdentifierError as exc:
        raise invalid("id_number", exc.code, exc.message) from None
    person_keys = keyring.person_keys(number)
    bounds = principal.region_bounds
    records: dict[str, list[Record]] = {}
    for dataset in SIDE_BY_SIDE:
        spec = spec_for(dataset)
        t = spec.table
        stmt: Any = select(*record_columns(spec)).where(
            t.c.person_key.in_(person_keys),
            t.c.closed_at.is_(None),
            t.c.region.between(*bounds),
        )
        if dataset is Dataset.payroll:
            if period is None:
                period = session.execute(
                    select(func.max(t.c.period)).where(
                        t.c.person_key.in_(person_keys),
                        t.c.closed_at.is_(None),
                        t.c.region.between(*bounds),
                    )
                ).scalar_one_or_none()
            stmt = stmt.where(t.c.period == period)
        rows = session.execute(stmt.order_by(t.c.unit_code, t.c.id)).all()
        records[dataset.value] = as_seen(
            session,
            spec,
            principal,
            shape_all(spec, rows, principal, closing=False, keyring=keyring),
        )
    if not any(records.values()):
        raise NotFound("No current records of this person in your region.")
    names = sorted({r["name"] for rows in records.values() for r in rows})
    return PersonView(
        id_number=number,
        names=names,
        records=records,
        payroll_period=period,
        discrepancies=live_findings_for_person(
            session, person_keys, bounds, keyring, settings.today()
        ),
    )
