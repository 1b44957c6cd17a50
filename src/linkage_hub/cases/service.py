"""12310 cases: filing a report, working it, and what each side may see.

**The clock** is in working days (Monday to Friday minus ``LINKAGE_HOLIDAYS``), counted from
the day after receipt: a proposal — handle it (``in_progress``), assign it to a lower office
(``assigned``), transfer it (``transferred``), or refuse it — within 10, closed within 60, and
one extension of at most 30 more, whose reason the reporter sees. A case is *overdue* when a
deadline it has not met has passed (one SQL condition over the stored due dates).

**Who sees what.** The establishment office of the case's handling region works it (or, if
the hub has none there, the nearest office above: :func:`handling_office`); audit reads the
cases of its region; nobody else sees one. The reporter's name and phone are sealed at rest
and shown only to the establishment office handling the case, and every such reveal is in the
audit log. The unit the report was filed naming (its code, and the name filed with it) is
sent only to a reader of the unit's region (:func:`readable_units`): the case keeps it when it
is handed down. The reporter sees status, due date, the extension's reason and the public
reply, by tracking code and secret — a wrong secret is a 404, like a code that does not exist.

**Every step** is a :class:`CaseStep`, an audit-log entry and a ``case.opened`` /
``case.transitioned`` event for subscribers.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import Any

from fastapi import Response
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session, aliased

from linkage_hub.audit import service as audit
from linkage_hub.auth.models import AuthClient
from linkage_hub.auth.principal import Principal
from linkage_hub.cases.models import Case, CaseLink, CaseStep
from linkage_hub.cases.schemas import (
    CaseDetail,
    CaseOut,
    Category,
    Contact,
    LinkOut,
    Refusal,
    ReportIn,
    ReportReceipt,
    ReportStatus,
    Status,
    StepOut,
)
from linkage_hub.clock import utcnow
from linkage_hub.cursors import decode_pair_cursor, encode_pair_cursor
from linkage_hub.dependencies import region_input
from linkage_hub.domain import Department
from linkage_hub.errors import HubError, NotFound, ServiceUnavailable, invalid_field
from linkage_hub.idempotency import once
from linkage_hub.identifiers import mask_id_numbers_in, region_contains
from linkage_hub.keys import Keyring
from linkage_hub.outbox import write as outbox
from linkage_hub.public.disclosures import hidden_codes
from linkage_hub.public.models import Disclosure, DisclosureUnit
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.rules import is_working_day
from linkage_hub.reconciliation.runs import region_is_known
from linkage_hub.registry.models import RegistryUnit
from linkage_hub.settings import Settings
from linkage_hub.versioning import region_bounds

# Filing takes this lock (PostgreSQL, until commit), so the daily cap is counted and kept by
# one report at a time.
REPORT_LOCK = 0x12310
PROPOSE_WORKING_DAYS = 10
CLOSE_WORKING_DAYS = 60
EXTENSION_WORKING_DAYS = 30

OPEN = (Status.received, Status.accepted, Status.in_progress, Status.assigned)
UNPROPOSED = (Status.received, Status.accepted)
TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone


def working_days_after(day: dt.date, n: int, holidays: Sequence[dt.date]) -> dt.date:
    """The ``n``-th working day after ``day``."""
    off = frozenset(holidays)
    while n > 0:
        day += dt.timedelta(days=1)
        if is_working_day(day, off):
            n -= 1
    return day


def _digest(keyring: Keyring, secret: str) -> str:
    return keyring.keyed_digest("12310\x1f" + _canonical_secret(secret))


def _grouped(length: int) -> str:
    """Random characters of :data:`TRACKING_ALPHABET` in groups of four (5 bits each)."""
    raw = "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(length))
    return "-".join(raw[i : i + 4] for i in range(0, length, 4))


def _tracking_code() -> str:
    return _grouped(12)  # 60 bits: not guessable, not a count of reports


def _new_secret() -> str:
    return _grouped(20)  # 100 bits, read out or typed without ambiguity


def _canonical_secret(secret: str) -> str:
    return "".join(secret.split()).upper()


def published_unit_region(session: Session, unit_code: str) -> str | None:
    """The region of a unit as some publication shows it (None: never published, or dark
    since: classified or under a classified unit)."""
    if unit_code in hidden_codes(session):
        return None
    content = session.scalar(
        select(DisclosureUnit.content)
        .join(Disclosure, Disclosure.id == DisclosureUnit.disclosure_id)
        .where(DisclosureUnit.unit_code == unit_code)
        .order_by(Disclosure.published_at.desc())
        .limit(1)
    )
    return None if content is None else str(content.get("region"))


def received_today(session: Session, today: dt.date) -> int:
    return int(session.scalar(select(func.count()).where(Case.received_on == today)) or 0)


def _seconds_to_midnight(settings: Settings) -> int:
    now = dt.datetime.now(settings.zone)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), settings.zone)
    return max(int((midnight - now).total_seconds()), 1)


def file_report(
    session: Session, settings: Settings, keyring: Keyring, body: ReportIn
) -> tuple[Case, str]:
    """A new case from a public report; returns it and its follow-up secret (shown once)."""
    region = region_input(body.region)
    if not (region_is_known(session, region) or region_is_known(session, region[:4] + "00")):
        # No office of this hub would ever see it: a typo, or another province's matter.
        raise invalid_field("region", "unknown_region", "is not a region this hub serves")
    if body.unit_code is not None:
        unit_region = published_unit_region(session, body.unit_code)
        if unit_region is None or not (
            region_contains(region, unit_region) or region_contains(unit_region, region)
        ):
            raise invalid_field(
                "unit_code",
                "unknown_unit",
                "is not a published unit of the region (name it in unit_name instead)",
            )
    facts = body.facts.strip()
    if not facts:
        raise invalid_field("facts", "empty", "is empty")
    today = settings.today()
    if session.get_bind().dialect.name == "postgresql":  # SQLite: one writer at a time already
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": REPORT_LOCK})
    if received_today(session, today) >= settings.public_reports_per_day:
        raise ServiceUnavailable(
            "The 12310 line takes no more reports today; please try again tomorrow or call 12310.",
            headers={"Retry-After": str(_seconds_to_midnight(settings))},
        )
    contact = body.contact
    named = contact is not None and bool(contact.name or contact.phone)
    secret = _new_secret()
    now = utcnow()
    case = Case(
        id=uuid.uuid4().hex,
        tracking_code=_tracking_code(),
        secret_digest=_digest(keyring, secret),
        category=body.category.value,
        region=region,
        handler_region=region,
        unit_code=body.unit_code,
        unit_name=(body.unit_name or "").strip() or None,
        facts=keyring.seal_id(facts),  # it may name people, ID numbers included
        contact=keyring.seal_id(json.dumps(contact.model_dump())) if named and contact else None,
        status=Status.received.value,
        received_at=now,
        received_on=today,
        propose_due=working_days_after(today, PROPOSE_WORKING_DAYS, settings.holidays),
        close_due=working_days_after(today, CLOSE_WORKING_DAYS, settings.holidays),
        extended=False,
        updated_at=now,
    )
    session.add(case)
    session.add(
        CaseStep(case_id=case.id, at=now, actor="public", action="filed", to_status=case.status)
    )
    session.flush()
    announce(session, case, "case.opened", now)
    audit.append(
        session,
        audit.Entry(
            action="case.file",
            actor="public",
            region=region,
            target_type="case",
            target_id=case.id,
            detail={"category": case.category, "named": named},
        ),
    )
    return case, secret


def file_once(
    session: Session,
    settings: Settings,
    keyring: Keyring,
    response: Response,
    body: ReportIn,
    *,
    key: str | None,
    over_limit: HubError | None,
    wait: bool = False,
) -> ReportReceipt:
    """File ``body`` once per key: both doors (``POST /public/v1/reports`` with its
    ``Idempotency-Key``, the 12310 form with the token of the page it was sent from) answer a
    retry of the very same report with the first receipt and file no second case.
    ``over_limit``: the address has filed its hour's reports (:func:`linkage_hub.public.shield.
    report_limit`); raised only where a case would be filed, so a retry still gets its
    receipt. ``wait``: the form's, whose second click waits for the first's receipt
    (:func:`linkage_hub.idempotency.once`)."""

    def make() -> ReportReceipt:
        if over_limit is not None:
            raise over_limit
        case, secret = file_report(session, settings, keyring, body)
        return ReportReceipt(
            tracking_code=case.tracking_code, secret=secret, due_on=case.propose_due
        )

    return once(
        session,
        keyring,
        settings,
        response,
        scope=None,
        route="file_report",
        key=key,
        request=body.model_dump(mode="json"),
        status=201,
        model=ReportReceipt,
        make=make,
        wait=wait,
    )


def announce(session: Session, case: Case, type: str, now: dt.datetime, **data: Any) -> None:
    outbox.append(
        session,
        type=type,
        region=case.handler_region,
        now=now,
        unit_code=case.unit_code,
        data={"case_id": case.id, "category": case.category, "status": case.status, **data},
    )


def follow_up(session: Session, keyring: Keyring, tracking_code: str, secret: str) -> ReportStatus:
    """What the reporter sees; the same 404 for an unknown code and a wrong secret.

    The office's words reach whoever holds the tracking code and secret, so an ID number it
    quoted in a reason or a reply is masked here, as the console masks it."""
    case = session.scalar(select(Case).where(Case.tracking_code == tracking_code.strip().upper()))
    if case is None or not hmac.compare_digest(case.secret_digest, _digest(keyring, secret)):
        raise NotFound("No report with this tracking code and secret.")
    return ReportStatus(
        tracking_code=case.tracking_code,
        status=Status(case.status),
        received_at=case.received_at,
        due_on=due_on(case),
        extension_reason=_masked(case.extension_reason),
        reply=_masked(case.reply),
    )


def _masked(text: str | None) -> str | None:
    return None if text is None else mask_id_numbers_in(text)


def due_on(case: Case) -> dt.date | None:
    if case.status in UNPROPOSED:
        return case.propose_due
    if case.status in OPEN:
        return case.close_due
    return None


def overdue_condition(today: dt.date) -> Any:
    return or_(
        and_(Case.status.in_(UNPROPOSED), Case.propose_due < today),
        and_(Case.status.in_(OPEN), Case.close_due < today),
    )


def is_overdue(case: Case, today: dt.date) -> bool:
    late_proposal = case.status in UNPROPOSED and case.propose_due < today
    return late_proposal or (case.status in OPEN and case.close_due < today)


def visible(principal: Principal) -> Any:
    """The cases the caller sees, as an SQL condition (establishment office and audit only)."""
    if principal.department not in (Department.establishment, Department.audit):
        return False  # the route table lets no one else in; a second lock on the SQL
    lo, hi = principal.region_bounds
    return or_(Case.handler_region.between(lo, hi), Case.region.between(lo, hi))


def get(session: Session, principal: Principal, case_id: str, *, lock: bool = False) -> Case:
    """A case the caller sees (404 otherwise); ``lock``: held until commit (FOR UPDATE on
    PostgreSQL), so two steps on one case run one after the other."""
    query = select(Case).where(Case.id == case_id, visible(principal))
    case = session.scalar(query.with_for_update() if lock else query)
    if case is None:
        raise NotFound("No such case.")
    return case


def _page(
    session: Session,
    principal: Principal,
    today: dt.date,
    *,
    region: str | None,
    status: Status | None,
    overdue: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Case], str | None]:
    query = select(Case).where(visible(principal))
    if region is not None:
        lo, hi = region_bounds(region)
        query = query.where(or_(Case.handler_region.between(lo, hi), Case.region.between(lo, hi)))
    if status is not None:
        query = query.where(Case.status == status.value)
    if overdue is not None:
        condition = overdue_condition(today)
        query = query.where(condition if overdue else ~condition)
    if cursor:
        number, _ = decode_pair_cursor(cursor, "cases")
        query = query.where(Case.number < number)
    rows = list(session.scalars(query.order_by(Case.number.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_pair_cursor(rows[-1].number, rows[-1].id, "cases") if more else None


def listed(
    session: Session,
    principal: Principal,
    keyring: Keyring,
    today: dt.date,
    record: Callable[[audit.Entry], None],
    *,
    region: str | None,
    status: Status | None,
    overdue: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[CaseOut], str | None]:
    """A page of cases as the API and the console both send it: shown (:func:`out`), with
    its read entered through ``record`` (the request's audit entry). The caller has checked
    ``region`` (inside its own)."""
    cases, next_cursor = _page(
        session,
        principal,
        today,
        region=region,
        status=status,
        overdue=overdue,
        limit=limit,
        cursor=cursor,
    )
    entry = _list_read(principal, cases)
    if entry is not None:
        record(entry)
    opens = openable_duplicates(session, principal, cases)
    units = readable_units(session, principal, cases)
    return [out(c, today, keyring, opens, units) for c in cases], next_cursor


def _list_read(principal: Principal, cases: list[Case]) -> audit.Entry | None:
    """The audit entry of a page of cases sent (their facts with them), naming them."""
    if not cases:
        return None
    return audit.by(
        principal, "case.list", principal.region, detail={"cases": [c.id for c in cases]}
    )


def openable_duplicates(session: Session, principal: Principal, cases: list[Case]) -> set[str]:
    """Of the earlier cases ``cases`` were refused as repeats of (``duplicate_of``), those the
    caller may open. The office refusing a case names any case it sees, its city's or another
    county's too (it may work a county's reports while that county has no office in the hub),
    and a county reading its case must not be given the id of a case that is 404 to it."""
    named = {c.duplicate_of for c in cases if c.duplicate_of}
    if not named:
        return set()
    return set(session.scalars(select(Case.id).where(Case.id.in_(named), visible(principal))))


def unit_region(code: Any) -> Any:
    """The region of the registry unit ``code`` (an SQL expression) names, as SQL: its current
    version's, or for a unit abolished or deleted since, its last version's (NULL: no unit)."""
    unit = aliased(RegistryUnit)
    mine = unit.unit_code == code
    current = select(unit.region).where(mine, unit.closed_at.is_(None))
    last = select(unit.region).where(mine).order_by(unit.id.desc()).limit(1)
    # COALESCE stops at the current version (indexed); only a unit with none reads further.
    return func.coalesce(current.scalar_subquery(), last.scalar_subquery())


def readable_units(session: Session, principal: Principal, cases: list[Case]) -> set[str]:
    """Of the units ``cases`` were filed naming (``unit_code``), those lying in the caller's
    region now (:func:`unit_region`), the rule the links and the discrepancy report's unit
    names follow.

    Decided at read time, not at hand-down: a report to the city may name a published unit of
    any of its counties, and the city may assign the case to another county; the case keeps
    the code the reporter chose (the city, and any office above, still reads it), while the
    county now handling it — which cannot open that unit, perhaps classified since — is sent
    neither its code nor the name filed with it (:func:`out`)."""
    ids = [c.id for c in cases if c.unit_code]
    if not ids:
        return set()
    lo, hi = principal.region_bounds
    found = session.scalars(
        select(Case.unit_code).where(Case.id.in_(ids), unit_region(Case.unit_code).between(lo, hi))
    )
    return {code for code in found if code is not None}


def out(
    case: Case,
    today: dt.date,
    keyring: Keyring,
    opens: Collection[str],
    units: Collection[str],
) -> CaseOut:
    """The case as sent; ``duplicate_of`` only when it is in ``opens`` (the caller may open
    it: :func:`openable_duplicates`); ``unit_code``, and the ``unit_name`` filed with it, only
    when the unit is in ``units`` (it lies in the caller's region: :func:`readable_units`). A
    ``unit_name`` filed without a code is the reporter's words, like the facts, and is sent."""
    named = case.unit_code is None or case.unit_code in units
    return CaseOut(
        id=case.id,
        tracking_code=case.tracking_code,
        category=Category(case.category),
        region=case.region,
        handler_region=case.handler_region,
        unit_code=case.unit_code if named else None,
        unit_name=case.unit_name if named else None,
        facts=keyring.reveal_id(case.facts),
        status=Status(case.status),
        received_at=case.received_at,
        propose_due=case.propose_due,
        close_due=case.close_due,
        due_on=due_on(case),
        overdue=is_overdue(case, today),
        extended=case.extended,
        extension_reason=case.extension_reason,
        refusal=Refusal(case.refusal) if case.refusal else None,
        duplicate_of=case.duplicate_of if case.duplicate_of in opens else None,
        reply=case.reply,
        closed_at=case.closed_at,
        named=case.contact is not None,
    )


def handling_office(session: Session, case: Case) -> str:
    """The region whose establishment office works the case: its handling region's, or, when
    the hub has no establishment office there (no active client or console account of that
    department and region), the nearest region above that has one — the city, then the
    province. A report is taken for any county of a city the hub serves, so without this a
    county that does not use the hub got cases every office could read and none could work.
    Looked up at each step, not fixed at filing: an office that joins the hub takes its
    region's cases over, and one revoked hands them up. A region no office above serves
    keeps its own (nobody works it until one is made)."""
    region = case.handler_region
    chain = list(dict.fromkeys((region, region[:4] + "00", region[:2] + "0000")))
    offices = set(
        session.scalars(
            select(AuthClient.region).where(
                AuthClient.department == Department.establishment.value,
                AuthClient.region.in_(chain),
                AuthClient.active.is_(True),
                AuthClient.revoked_at.is_(None),
            )
        )
    )
    return next((r for r in chain if r in offices), region)


def handles(session: Session, principal: Principal, case: Case) -> bool:
    """The establishment office handling the case (:func:`handling_office`). Offices above
    it read the case (supervision) but neither work it nor see the reporter."""
    return principal.department is Department.establishment and principal.region == (
        handling_office(session, case)
    )


def _link_opens(principal: Principal) -> Any:
    """A link the caller may open, as an SQL condition: its finding filed, or its unit
    registered, in the caller's region now (a unit abolished or deleted since: where its last
    version was). A case handed down to a county (or a unit moved away since it was linked)
    must not name the city's or a sibling's finding or unit."""
    lo, hi = principal.region_bounds
    finding = select(Finding.id).where(
        Finding.id == CaseLink.target, Finding.region.between(lo, hi)
    )
    return or_(
        and_(CaseLink.kind == "finding", finding.exists()),
        and_(CaseLink.kind == "unit", unit_region(CaseLink.target).between(lo, hi)),
    )


def detail(
    session: Session,
    principal: Principal,
    keyring: Keyring,
    case: Case,
    today: dt.date,
    record: Callable[[audit.Entry], None],
) -> CaseDetail:
    """The case with its links and steps; the reporter's contact for the handling office
    only. Each read is in the audit log (the facts may name people): ``case.contact_read``
    when the contact was shown, ``case.read`` otherwise."""
    contact = None
    if case.contact is not None and handles(session, principal, case):
        contact = Contact(**json.loads(keyring.reveal_id(case.contact)))
    action = "case.read" if contact is None else "case.contact_read"
    record(audit.by(principal, action, case.handler_region, target_type="case", target_id=case.id))
    links = session.scalars(
        select(CaseLink)
        .where(CaseLink.case_id == case.id, _link_opens(principal))
        .order_by(CaseLink.linked_at)
    )
    steps = session.scalars(
        select(CaseStep).where(CaseStep.case_id == case.id).order_by(CaseStep.id)
    )
    return CaseDetail(
        **out(
            case,
            today,
            keyring,
            openable_duplicates(session, principal, [case]),
            readable_units(session, principal, [case]),
        ).model_dump(),
        contact=contact,
        links=[LinkOut(kind=x.kind, target=x.target, linked_at=x.linked_at) for x in links],
        steps=[
            StepOut(
                at=s.at,
                actor=s.actor,
                action=s.action,
                from_status=s.from_status,
                to_status=s.to_status,
                reason=s.reason,
            )
            for s in steps
        ],
    )
