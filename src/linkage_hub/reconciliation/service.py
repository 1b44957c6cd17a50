"""Findings as people see them: lists, detail with evidence, history and comments (what people
do to findings — comments and status changes — is :mod:`linkage_hub.reconciliation.lifecycle`).

Region scoping happens in SQL (``region BETWEEN lo AND hi``); a finding outside the caller's
region is a 404, and it appears in no list, report or person view either. The ID number of a
person finding is looked up through its ``person_key`` in the person's records inside the
caller's region, in the same query (:func:`id_number_of`: a finding can be filed where the
person has no record).

Evidence (:func:`evidence_records`, the one home of what a caller sees of it): a record of the
caller's region shows its fields, ``gross_pay`` only to departments that see salaries (finance
and audit). A record of a region the caller cannot read — a finding can span regions — is shown
as what it is (dataset, region, record key, version, times; its batch only when the caller may
open it) with ``withheld`` set and no fields: no name, ID number or pay.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from linkage_hub.auth.principal import Principal
from linkage_hub.clock import aware
from linkage_hub.cursors import decode_pair_cursor, encode_pair_cursor
from linkage_hub.domain import Dataset, Department
from linkage_hub.errors import (
    NotFound,
)
from linkage_hub.keys import Keyring
from linkage_hub.privacy.models import PersonKeyMap
from linkage_hub.reconciliation.models import Comment, Event, Evidence, Finding, Run
from linkage_hub.reconciliation.schemas import (
    CommentOut,
    EvidenceRecord,
    FindingDetail,
    FindingOut,
    FindingStatus,
    HistoryEntry,
    Text,
)
from linkage_hub.records.datasets import spec_for
from linkage_hub.records.models import Batch
from linkage_hub.records.seen import runs
from linkage_hub.records.visibility import batch_openable, hidden_fields
from linkage_hub.versioning import region_bounds

# The order evidence is listed in, and a person's ID number and name looked up in: the
# establishment office's roster, HR, organization, finance; then the registry. The models
# themselves are the dataset specs' (records/datasets.py).
EVIDENCE_ORDER = (
    Dataset.roster,
    Dataset.employment,
    Dataset.cadres,
    Dataset.payroll,
    Dataset.units,
    Dataset.quotas,
    Dataset.leader_posts,
)
DATASET_MODELS: dict[Dataset, Any] = {d: spec_for(d).model for d in EVIDENCE_ORDER}
PERSON_MODELS: tuple[Any, ...] = tuple(
    spec_for(d).model for d in EVIDENCE_ORDER if spec_for(d).person
)
_VERSION_COLUMNS = {
    "id", "record_key", "version", "batch_id", "client_id", "recorded_at", "closed_at",
    "closed_batch_id", "person_key", "id_number_given", "name_norm",
}  # fmt: skip
LIVE = (
    FindingStatus.open,
    FindingStatus.reopened,
    FindingStatus.acknowledged,
    FindingStatus.waived,
)


REGION_WIDTH = 6  # a division code: a located lookup's value starts with its record's region


def _person_field(
    person_key: Any,
    field: str,
    bounds: tuple[str, str],
    *,
    past: bool = False,
    located: bool = False,
) -> ColumnElement[str | None]:
    """A field of the person from the first of their current records inside ``bounds``, or,
    with ``past``, failing that from the first of their closed versions inside ``bounds``.
    Each is one index probe (by person key: the index on current versions, then the one on
    closed versions, ``ix_<table>_closed_person_key``), taken only while those before it found
    nothing. While a key rotation is half done, a record may stand under the person's new key
    and the finding under the old one until the rotation's last step: the record is matched by
    the rotation's key map too (empty, so one index probe, at any other time).

    ``located``: the value prefixed with the region of the record it was read from (one
    lookup, so the very record: :func:`located`), for the read entry of whoever is sent it."""
    rekeyed = (
        select(PersonKeyMap.new_key)
        .where(PersonKeyMap.old_key == person_key)
        .correlate_except(PersonKeyMap)  # to the finding, two levels out
        .scalar_subquery()
    )
    lookups = []
    for current in (True, False) if past else (True,):
        for model in PERSON_MODELS:
            version = model.closed_at.is_(None) if current else model.closed_batch_id.is_not(None)
            value = getattr(model, field)
            lookup = select(model.region + value if located else value).where(
                model.person_key.in_([person_key, rekeyed]), version, model.region.between(*bounds)
            )
            lookups.append(lookup.limit(1).scalar_subquery())
    return func.coalesce(*lookups)


def located(value: str | None) -> tuple[str | None, str | None]:
    """A located lookup's value (``located=True``) as (the region of the record it was read
    from, the value); (None, None) when none was found."""
    if value is None:
        return None, None
    return value[:REGION_WIDTH], value[REGION_WIDTH:]


def id_number_of(
    person_key: Any, bounds: tuple[str, str], *, located: bool = False
) -> ColumnElement[str | None]:
    """The ID number behind a person key, shown to a reader of ``bounds`` only when a version
    of a record of the person — current, or closed — lies inside ``bounds``; none otherwise.

    The rule: a reader learns from a finding the ID number of a person its region holds, or
    held, a record of, and of no one else. Such a version is the reader's to read (the record,
    its history, a read ``as_of`` its time, and as the finding's evidence), ID number included,
    so the finding shows it nothing new. A finding can be filed where the person has no record
    at all: a live finding follows its unit to the region the city moves it to
    (records.publish), though the record that made it was deleted before the move, and the
    person's other records lie in regions the reader cannot read (its evidence withheld); a
    resolved finding stays in the region that resolved it. Its reader reads the finding, not
    whom it is about. The region it left, and the city above both, read the number.

    Every version of the person's records holds the same number (the key is made from it):
    the first current one inside ``bounds``, else the first closed one, gives it. That
    record may lie in another region than the finding (a city reads a county's finding through
    a sibling county's record of the person): whoever shows the number files its read under
    that record's region too (``located``, :meth:`FindingOut.persons_read`)."""
    return _person_field(person_key, "id_number", bounds, past=True, located=located)


def name_of(
    person_key: Any, bounds: tuple[str, str], *, located: bool = False
) -> ColumnElement[str | None]:
    """The person's name as the first department holding a current record inside ``bounds``
    (the reader's region) writes it; none when no such record is current. Departments write
    a name differently (NAME_MISMATCH): a sibling county's spelling is the sibling's record,
    withheld from the reader like the rest of its fields; a reader who may read it (the city
    above both) reads it in that record, and its read is filed there too (``located``)."""
    return _person_field(person_key, "name", bounds, located=located)


def _select(bounds: tuple[str, str]) -> Select[Finding, str | None]:
    """Findings with the ID number a reader of ``bounds`` reads (:func:`id_number_of`)."""
    return select(
        Finding, id_number_of(Finding.person_key, bounds, located=True).label("id_number")
    )


def is_overdue(status: str, due_on: dt.date | None, today: dt.date | None) -> bool:
    """Acknowledged with a due date that has passed (the day itself is still in time)."""
    return bool(status == FindingStatus.acknowledged and due_on and today and due_on < today)


def acknowledgement_seen(f: Finding | Row[Any], bounds: tuple[str, str]) -> bool:
    """Whether a reader of ``bounds`` reads who answers for ``f`` (a finding, or a row of its
    columns) and by when: it is acknowledged, in a region inside ``bounds``. A finding
    follows its unit to another region; the acknowledgement the region it left made
    (department, due date, so ``overdue``) stays that region's, as the history entry that
    made it does (:func:`_filed_inside`)."""
    return acknowledged_inside(f.status, f.acknowledged_in, bounds)


def acknowledged_inside(status: str, acknowledged_in: str | None, bounds: tuple[str, str]) -> bool:
    """:func:`acknowledgement_seen` of a finding's two columns (for reports reading tuples)."""
    return status == FindingStatus.acknowledged and _inside(acknowledged_in, bounds)


def acknowledgement_seen_sql(bounds: tuple[str, str]) -> ColumnElement[bool]:
    """:func:`acknowledgement_seen` in SQL (never NULL, so it can be negated)."""
    return and_(
        Finding.status == FindingStatus.acknowledged.value,
        or_(Finding.acknowledged_in.is_(None), Finding.acknowledged_in.between(*bounds)),
    )


def _out(row: Any, keyring: Keyring, today: dt.date, bounds: tuple[str, str]) -> FindingOut:
    """A finding for the API as a reader of ``bounds`` reads it; the ID number (stored
    encrypted) is revealed here."""
    f: Finding = row[0]
    read_in, number = located(row[1])
    shown = bool(f.person_key and number)
    # Who answers and by when hold while it stays acknowledged (a run that resolves or
    # reopens it leaves the columns: the history has them), for readers of the region that
    # acknowledged it.
    acknowledged = acknowledgement_seen(f, bounds)
    return FindingOut(
        id=f.id,
        rule=f.rule,
        severity=f.severity,
        status=f.status,
        region=f.region,
        unit_code=f.unit_code,
        id_number=keyring.reveal_id(number) if shown and number else None,
        establishment_type=f.establishment_type,
        level=f.level,
        departments=[Department(d) for d in f.departments.strip(",").split(",") if d],
        first_seen_at=aware(f.first_seen_at),
        last_seen_at=aware(f.last_seen_at),
        resolved_at=aware(f.resolved_at) if f.resolved_at else None,
        summary=Text(zh=f.summary_zh, en=f.summary_en),
        responsible_department=Department(f.responsible_department)
        if acknowledged and f.responsible_department
        else None,
        due_on=f.due_on if acknowledged else None,
        overdue=acknowledged and is_overdue(f.status, f.due_on, today),
    ).keyed(f.person_key if shown else None, read_in)


# --- lists ------------------------------------------------------------------------------------


@dataclass
class Filters:
    region: str | None = None
    unit_code: str | None = None
    person_keys: list[str] | None = None  # the person's key under every key version
    rule: str | None = None
    status: str | None = None
    severity: str | None = None
    department: str | None = None
    live: bool | None = None  # True: not resolved (LIVE); False: resolved
    overdue: bool | None = None  # True: acknowledged and past due on ``today``; False: not
    today: dt.date | None = None  # the day ``overdue`` is judged on (today, the hub's zone)


Ts = TypeVarTuple("Ts")


def filtered(query: Select[*Ts], principal: Principal, filters: Filters) -> Select[*Ts]:
    """``query`` over ``Finding`` narrowed to the caller's region and the filters, in SQL."""
    query = query.where(Finding.region.between(*principal.region_bounds))
    if filters.region is not None:
        query = query.where(Finding.region.between(*region_bounds(filters.region)))
    if filters.unit_code is not None:
        query = query.where(Finding.unit_code == filters.unit_code)
    if filters.person_keys is not None:
        # One person's findings, of those the reader reads the person's ID number of: the
        # filter names the person, and answering it with a finding the reader may not read
        # the number of (id_number_of) would tell it whom that finding is about.
        query = query.where(
            Finding.person_key.in_(filters.person_keys),
            id_number_of(Finding.person_key, principal.region_bounds).is_not(None),
        )
    if filters.rule is not None:
        query = query.where(Finding.rule == filters.rule)
    if filters.status is not None:
        query = query.where(Finding.status == filters.status)
    if filters.severity is not None:
        query = query.where(Finding.severity == filters.severity)
    if filters.department is not None:
        query = query.where(Finding.departments.contains(f",{filters.department},"))
    if filters.live is not None:
        live = Finding.status.in_([str(s) for s in LIVE])
        query = query.where(live if filters.live else ~live)
    if filters.overdue is not None:
        if filters.today is None:
            raise ValueError("the overdue filter needs the day it is judged on")
        late = overdue_condition(filters.today, principal.region_bounds)
        query = query.where(late if filters.overdue else ~late)
    return query


def overdue_condition(today: dt.date, bounds: tuple[str, str]) -> ColumnElement[bool]:
    """:func:`is_overdue` in SQL, as a reader of ``bounds`` judges it (see
    :func:`acknowledgement_seen`); never NULL, so it can be negated."""
    return and_(
        acknowledgement_seen_sql(bounds),
        Finding.due_on.is_not(None),
        Finding.due_on < today,
    )


def list_findings(
    session: Session,
    principal: Principal,
    filters: Filters,
    *,
    keyring: Keyring,
    today: dt.date,
    limit: int,
    cursor: str | None,
) -> tuple[list[FindingOut], str | None]:
    query = filtered(_select(principal.region_bounds), principal, filters)
    if cursor is not None:
        rank, after = decode_pair_cursor(cursor)
        query = query.where(tuple_(Finding.severity_rank, Finding.id) > tuple_(rank, after))
    query = query.order_by(Finding.severity_rank, Finding.id).limit(limit + 1)
    rows = list(session.execute(query))
    items = [_out(row, keyring, today, principal.region_bounds) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last: Finding = rows[limit - 1][0]
        next_cursor = encode_pair_cursor(last.severity_rank, last.id)
    return items, next_cursor


def live_findings_for_person(
    session: Session,
    person_keys: list[str],
    bounds: tuple[str, str],
    keyring: Keyring,
    today: dt.date,
) -> list[FindingOut]:
    """The person's findings that still hold (not resolved), inside ``bounds`` — for the
    person view."""
    query = (
        _select(bounds)
        .where(
            Finding.person_key.in_(person_keys),
            Finding.region.between(*bounds),
            Finding.status.in_([s.value for s in LIVE]),
        )
        .order_by(Finding.severity_rank, Finding.id)
    )
    return [_out(row, keyring, today, bounds) for row in session.execute(query)]


# --- one finding ------------------------------------------------------------------------------


def visible_finding(
    session: Session, principal: Principal, finding_id: str, *, lock: bool = False
) -> Finding:
    query = select(Finding).where(
        Finding.id == finding_id, Finding.region.between(*principal.region_bounds)
    )
    if lock:
        query = query.with_for_update()
    finding = session.scalars(query).first()
    if finding is None:
        raise NotFound("No such discrepancy.")
    return finding


def evidence_records(
    session: Session, finding_id: str, principal: Principal, keyring: Keyring
) -> list[EvidenceRecord]:
    """The records behind a finding as the caller may see them (see the module docstring)."""
    records: list[EvidenceRecord] = []
    for dataset, model in DATASET_MODELS.items():
        rows = session.scalars(
            select(model)
            .join(
                Evidence,
                and_(Evidence.record_key == model.record_key, Evidence.version == model.version),
            )
            .where(Evidence.finding_id == finding_id, Evidence.dataset == dataset.value)
            .order_by(model.record_key)
        )
        for row in rows:
            readable = principal.contains(row.region)
            records.append(
                EvidenceRecord(
                    dataset=dataset,
                    record_key=row.record_key,
                    version=row.version,
                    region=row.region,
                    batch_id=row.batch_id,
                    recorded_at=aware(row.recorded_at),
                    current=row.closed_at is None,
                    withheld=not readable,
                    record=_evidence_fields(model, row, principal, keyring) if readable else {},
                ).keyed(getattr(row, "person_key", None) if readable else None)
            )
    return _unnamed_batches(session, principal, _as_seen(session, principal, records))


def _unnamed_batches(
    session: Session, principal: Principal, records: list[EvidenceRecord]
) -> list[EvidenceRecord]:
    """A withheld record names its batch only when the caller may open it
    (``records.visibility.batch_openable``, as the runs' ``batch_ids`` do): the versions a
    county it entered reads of a moved finding are the county it left's, written by batches
    that are a 404 to it. A record the caller reads names its batch as the records do."""
    named = {r.batch_id for r in records if r.withheld and r.batch_id is not None}
    if not named:
        return records
    openable = set(
        session.scalars(
            select(Batch.batch_id).where(Batch.batch_id.in_(named), batch_openable(principal))
        )
    )
    for record in records:
        if record.withheld and record.batch_id not in openable:
            record.batch_id = None
    return records


def _as_seen(
    session: Session, principal: Principal, records: list[EvidenceRecord]
) -> list[EvidenceRecord]:
    """Payroll evidence shows the version the caller sees (records.seen.as_seen): a line
    whose pay alone changed keeps, for HR, the version it had, and is ``current`` while the
    last version of its run is (a pay-only change does not close it to HR)."""
    spec = spec_for(Dataset.payroll)
    hidden = hidden_fields(spec, principal)
    lines = [r for r in records if r.dataset is Dataset.payroll]
    if not hidden or not lines:
        return records
    found = runs(session, spec, hidden, {r.record_key for r in lines})
    for line in lines:
        run = found.get((line.record_key, line.version))
        if run is not None:
            line.version, line.batch_id = run.start.version, run.start.batch_id
            line.recorded_at = aware(run.start.recorded_at)
            line.current = run.end.closed_at is None
    return records


def _evidence_fields(
    model: Any, row: Any, principal: Principal, keyring: Keyring
) -> dict[str, Any]:
    fields = {
        c.key: getattr(row, c.key) for c in model.__table__.columns if c.key not in _VERSION_COLUMNS
    }
    if fields.get("id_number"):
        fields["id_number"] = keyring.reveal_id(fields["id_number"])
    if "gross_pay" in fields:
        if principal.sees_salaries:
            fields["gross_pay"] = f"{fields['gross_pay']:.2f}"
        else:
            fields.pop("gross_pay")
    return fields


def finding_detail(
    session: Session, principal: Principal, finding_id: str, keyring: Keyring, today: dt.date
) -> FindingDetail:
    finding = visible_finding(session, principal, finding_id)
    row = session.execute(_select(principal.region_bounds).where(Finding.id == finding.id)).one()
    base = _out(row, keyring, today, principal.region_bounds)
    run = session.get(Run, finding.last_run_id)
    events = (
        select(Event, Run.region)
        .outerjoin(Run, Run.id == Event.run_id)
        .where(Event.finding_id == finding.id)
        .order_by(Event.id)
    )
    history = [
        _history_entry(e, run_region, principal) for e, run_region in session.execute(events)
    ]
    return FindingDetail(
        **base.model_dump(),
        parameters=dict(run.parameters) if run else {},
        evidence=evidence_records(session, finding.id, principal, keyring),
        history=history,
        comments=comments_of(session, principal, finding.id),
    ).keyed(base.person_key, base.read_in)


def _filed_inside(filed_region: str | None, principal: Principal) -> bool:
    """Whether an entry written while the finding was filed in ``filed_region`` is the
    reader's to read in full: a finding follows its unit to another region with its id, and
    what the region it left wrote about it (who, why, under which document) stays that
    region's, as the records' versions from before a move do (records.publish)."""
    return _inside(filed_region, principal.region_bounds)


def _inside(region: str | None, bounds: tuple[str, str]) -> bool:
    """``region`` lies inside ``bounds``; None (an entry of before regions were kept) too."""
    return region is None or bounds[0] <= region <= bounds[1]


def _history_entry(e: Event, run_region: str | None, principal: Principal) -> HistoryEntry:
    """``run_region``: the region of the run that wrote ``e`` (None: no run, or none kept).
    The run is named only to a reader who may open it (``GET /reconciliation/runs/{id}``:
    its region inside the reader's, reconciliation.history): a county reads the entries a
    city's run wrote about its findings, not that run."""
    bounds = principal.region_bounds
    if not _filed_inside(e.filed_region, principal):
        return HistoryEntry(
            from_status=e.from_status,
            to_status=e.to_status,
            at=aware(e.at),
            run_id=None,
            client_id=None,
            department=None,
            reason=None,
            document_no=None,
            withheld=True,
        )
    return HistoryEntry(
        from_status=e.from_status,
        to_status=e.to_status,
        at=aware(e.at),
        run_id=e.run_id if run_region is not None and _inside(run_region, bounds) else None,
        client_id=e.client_id,
        department=e.department,
        reason=e.reason,
        document_no=e.document_no,
    )


def comments_of(session: Session, principal: Principal, finding_id: str) -> list[CommentOut]:
    """The thread as the reader may read it: comments written while the finding was filed
    outside the reader's region are left out (see :func:`_filed_inside`)."""
    lo, hi = principal.region_bounds
    return [
        CommentOut(
            id=c.id,
            client_id=c.client_id,
            department=Department(c.department),
            body=c.body,
            at=aware(c.at),
        )
        for c in session.scalars(
            select(Comment)
            .where(
                Comment.finding_id == finding_id,
                Comment.filed_region.is_(None) | Comment.filed_region.between(lo, hi),
            )
            .order_by(Comment.id)
        )
    ]


def finding_out(
    session: Session, principal: Principal, finding_id: str, keyring: Keyring, today: dt.date
) -> FindingOut:
    """One finding as lists show it (the caller has checked it is visible)."""
    row = session.execute(_select(principal.region_bounds).where(Finding.id == finding_id)).one()
    return _out(row, keyring, today, principal.region_bounds)
