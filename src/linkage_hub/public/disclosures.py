"""Staffing disclosure (机构编制信息公开): what a region publishes, and reading it back.

**What is public** of a unit: name, kind, funding, parent, internal bodies, functions (三定),
the approved quota by establishment type against the people on the roster with the approving
document number, and the approved leader posts by level against the serving cadres. Never a
person, never a classified unit, and never a unit anywhere under a classified one (a recursive
query over ``parent_code``, across regions, so a classified city office hides its county
branches too).

**The figures are the staffing report's.** ``approved`` and ``on_roster`` come from
:func:`linkage_hub.reports.staffing.staffing_rows` for the same day, so the public page and
the auditors' report cannot disagree; leader posts count cadres in office that day whose
leader level is the post's level.

**The review step.** Nothing is public until the establishment office publishes (``POST
/api/v1/disclosures``; ``GET /api/v1/disclosures/preview`` shows what would be published, for
the secrecy review, 保密审查). A publication is a snapshot: later pushes change nothing of it.
The public reads the latest publication of a region, the latest on or before ``?date=``, or
one publication of the region by its id (``?publication=``: two the same day are both reachable).

**No ID number is published.** A person's ID number typed into a unit's free text (its name, its
functions, a document number, an internal body's name) is masked as the console masks it
(:func:`linkage_hub.identifiers.mask_id_numbers_in`): when publishing, and again when reading a
publication, so a snapshot stored before the masking is read masked too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Date, String, TextClause, bindparam, func, insert, select, text
from sqlalchemy.orm import Session

from linkage_hub import validtime as vt
from linkage_hub.audit import service as audit
from linkage_hub.auth.principal import Principal
from linkage_hub.clock import utcnow
from linkage_hub.errors import FieldError, InvalidInput, NotFound, invalid_field
from linkage_hub.identifiers import mask_id_numbers_in
from linkage_hub.inputs import DATE_RANGE, DATE_RANGE_MESSAGE, in_range
from linkage_hub.public.models import Disclosure, DisclosureUnit
from linkage_hub.records import queries
from linkage_hub.reports import staffing
from linkage_hub.versioning import region_bounds

LEVELS = ("principal", "deputy")

# Every unit under a classified one, whatever its region: the walk starts at the classified
# units — current versions, and units deleted while classified (their children still name
# them as parent) — and follows parent_code down. Each step follows a unit code's latest
# version, current or closed: a unit deleted after it was withdrawn (its stored page names the
# classified parent) stays withdrawn, as its children do. The latest version is the one no
# later version of the same record follows (record_key is the unit code's key; the unique
# record_key/version index answers it). UNION (not UNION ALL) ends the walk on a cycle. The
# start is the partial index ix_registry_unit_classified.
HIDDEN = """
WITH RECURSIVE hidden(unit_code) AS (
  SELECT h.unit_code FROM registry_unit h
  WHERE h.classified AND (h.closed_at IS NULL OR NOT EXISTS (
    SELECT 1 FROM registry_unit x WHERE x.unit_code = h.unit_code AND x.closed_at IS NULL))
  UNION
  SELECT c.unit_code FROM registry_unit c JOIN hidden ON c.parent_code = hidden.unit_code
  WHERE c.closed_at IS NULL OR NOT EXISTS (
    SELECT 1 FROM registry_unit y WHERE y.record_key = c.record_key AND y.version > c.version)
)"""


def _units(session: Session, region: str, day: dt.date, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The region's public units on ``day``, and (``inside`` false) the public units of other
    regions whose parent is one of the region's units: a unit's internal bodies are its child
    units wherever they sit (DOMAIN.md), so a county's page lists the one registered in its
    sibling as the city's page does (code and name only)."""
    dialect = session.get_bind().dialect.name
    sql = text(f"""{HIDDEN}
SELECT u.unit_code, u.name, u.kind, u.funding, u.parent_code, u.functions, u.region,
       CASE WHEN u.region BETWEEN :lo AND :hi THEN 1 ELSE 0 END AS inside
FROM registry_unit u
WHERE u.closed_at IS NULL AND {vt.registered("u", ":day", dialect)}
  AND (u.region BETWEEN :lo AND :hi OR u.parent_code IN (
    SELECT p.unit_code FROM registry_unit p
    WHERE p.closed_at IS NULL AND p.region BETWEEN :lo AND :hi))
  AND u.unit_code NOT IN (SELECT unit_code FROM hidden)
ORDER BY u.unit_code
""").bindparams(bindparam("day", type_=Date))
    lo, hi = region_bounds(region)
    params = {"lo": lo, "hi": hi, "day": day} | vt.zone_param(zone)
    return [dict(row) for row in session.execute(sql, params).mappings()]


def _documents(
    session: Session, table: str, key: str, region: str, day: dt.date, zone: ZoneInfo
) -> dict[tuple[str, str], tuple[int, str | None]]:
    versions = vt.effective_version(table, ":day", session.get_bind().dialect.name)
    sql = text(
        f"SELECT v.unit_code, v.{key}, v.approved, v.document_no FROM {versions} v "
        "WHERE v.region BETWEEN :lo AND :hi"
    ).bindparams(bindparam("day", type_=Date))
    lo, hi = region_bounds(region)
    return {
        (r.unit_code, r[1]): (r.approved, r.document_no)
        for r in session.execute(sql, {"lo": lo, "hi": hi, "day": day} | vt.zone_param(zone))
    }


def _serving(
    session: Session, region: str, day: dt.date, zone: ZoneInfo
) -> dict[tuple[str, str], int]:
    dialect = session.get_bind().dialect.name
    sql = text(f"""
SELECT c.unit_code, c.leader_level, COUNT(DISTINCT c.person_key)
FROM records_cadre c
WHERE c.closed_at IS NULL AND c.region BETWEEN :lo AND :hi
  AND c.leader_level IN ('principal', 'deputy') AND {vt.in_office("c", ":day", dialect)}
GROUP BY c.unit_code, c.leader_level
""").bindparams(bindparam("day", type_=Date))
    lo, hi = region_bounds(region)
    params = {"lo": lo, "hi": hi, "day": day} | vt.zone_param(zone)
    return {(r[0], r[1]): int(r[2]) for r in session.execute(sql, params)}


def compute(session: Session, region: str, day: dt.date, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The region's public units as they stand on ``day`` (a few set-based statements; days
    in the hub's time ``zone``), under the regions lock, shared: a unit moving to another
    region is not found here and then found in none of the statements that count its
    figures (a move in flight commits first; a later one waits)."""
    queries.lock_regions(session, None)
    found = _units(session, region, day, zone)
    units = [u for u in found if u["inside"]]
    public = {u["unit_code"] for u in units}
    quotas: dict[str, list[dict[str, Any]]] = defaultdict(list)
    documents = _documents(session, "registry_quota", "establishment_type", region, day, zone)
    for row in staffing.staffing_rows(session, region, day, zone):
        if row.unit_code in public:
            quotas[row.unit_code].append(
                {
                    "establishment_type": row.establishment_type,
                    "approved": row.approved,
                    "on_roster": row.on_roster,
                    "document_no": documents.get(
                        (row.unit_code, row.establishment_type), (0, None)
                    )[1],
                }
            )
    posts = _documents(session, "registry_leader_post", "level", region, day, zone)
    serving = _serving(session, region, day, zone)
    children: dict[str, list[dict[str, str]]] = defaultdict(list)
    for unit in found:
        if unit["parent_code"] in public:
            children[unit["parent_code"]].append(
                {"unit_code": unit["unit_code"], "name": unit["name"]}
            )
    out = []
    for unit in units:
        code = unit["unit_code"]
        leader_posts = [
            {
                "level": level,
                "approved": posts.get((code, level), (0, None))[0],
                "serving": serving.get((code, level), 0),
                "document_no": posts.get((code, level), (0, None))[1],
            }
            for level in LEVELS
            if (code, level) in posts or (code, level) in serving
        ]
        out.append(
            _masked(
                {
                    "unit_code": code,
                    "name": unit["name"],
                    "region": unit["region"],
                    "kind": unit["kind"],
                    "funding": unit["funding"],
                    "parent_code": unit["parent_code"],
                    "functions": unit["functions"],
                    "internal_units": children.get(code, []),
                    "quotas": quotas.get(code, []),
                    "leader_posts": leader_posts,
                }
            )
        )
    return out


def _masked(unit: dict[str, Any]) -> dict[str, Any]:
    """The unit with every ID-number-like run of its free text masked: name, functions, the
    document numbers, its internal bodies' names (codes are unit codes, not free text)."""

    def text(value: str | None) -> str | None:
        return None if value is None else mask_id_numbers_in(value)

    return {
        **unit,
        "name": mask_id_numbers_in(unit["name"]),
        "functions": text(unit.get("functions")),
        "internal_units": [
            {**c, "name": mask_id_numbers_in(c["name"])} for c in unit.get("internal_units") or []
        ],
        "quotas": [{**q, "document_no": text(q.get("document_no"))} for q in unit["quotas"]],
        "leader_posts": [
            {**lp, "document_no": text(lp.get("document_no"))} for lp in unit["leader_posts"]
        ],
    }


def business_day(today: dt.date, as_of: dt.date | None) -> dt.date:
    """The business date of a preview or a publication: ``as_of`` (default ``today``, the
    hub's), inside the hub's dates and not after today (a 422 naming ``as_of``). The API and
    the console check it, and so does ``linkage-hub disclosures publish``: a publication is
    kept a year and taken back by nobody."""
    if as_of is not None and not in_range(as_of):
        raise invalid_field("as_of", DATE_RANGE, DATE_RANGE_MESSAGE)
    if as_of is not None and as_of > today:
        raise InvalidInput(
            "as_of lies in the future.",
            errors=[FieldError(field="as_of", code="future", message="as_of lies in the future")],
        )
    return as_of or today


def publish(
    session: Session, principal: Principal, region: str, day: dt.date, zone: ZoneInfo
) -> Disclosure:
    """Snapshot the region's public units as of ``day``: one row per unit, in one transaction,
    and an audit entry."""
    units = compute(session, region, day, zone)
    disclosure = Disclosure(
        id=uuid.uuid4().hex,
        region=region,
        as_of=day,
        published_at=utcnow(),
        published_by=principal.client_id,
        unit_count=len(units),
    )
    session.add(disclosure)
    session.flush()
    if units:
        session.execute(
            insert(DisclosureUnit),
            [
                {
                    "disclosure_id": disclosure.id,
                    "unit_code": u["unit_code"],
                    "parent_code": u["parent_code"],
                    "name": u["name"],
                    "content": u,
                }
                for u in units
            ],
        )
    audit.append(
        session,
        audit.by(
            principal,
            "disclosure.publish",
            region,
            target_type="disclosure",
            target_id=disclosure.id,
            detail={"as_of": day.isoformat(), "units": len(units)},
        ),
    )
    return disclosure


@dataclass(frozen=True, slots=True)
class Publication:
    """One publication of a region, as the public finds it in the list of publications."""

    id: str
    region: str
    as_of: dt.date
    published_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Published(Publication):
    """A publication as the public reads it: ``unit_count`` is its units still public now, not
    the count stored at publication — a unit withdrawn since (classified, or under a classified
    unit) must not show as a gap in the count."""

    unit_count: int


# The units hidden now (:func:`hidden_codes`, walked once a request), as a parameter; past
# MAX_HIDDEN_PARAMETERS (SQLite takes 32,766 bound values) the statement walks them itself.
NOT_HIDDEN = bindparam("hidden", expanding=True, type_=String)
MAX_HIDDEN_PARAMETERS = 10_000


def _without_hidden(sql: str, hidden: frozenset[str]) -> tuple[TextClause, dict[str, Any]]:
    """``sql``, whose condition reads ``NOT IN :hidden``, and the parameter it then takes."""
    if len(hidden) <= MAX_HIDDEN_PARAMETERS:
        return text(sql).bindparams(NOT_HIDDEN), {"hidden": sorted(hidden)}
    walked = sql.replace("NOT IN :hidden", "NOT IN (SELECT unit_code FROM hidden)")
    return text(HIDDEN + walked), {}


def _public_counts(session: Session, ids: list[str], hidden: frozenset[str]) -> dict[str, int]:
    """Each publication's units not hidden now: one COUNT, with the same condition as
    :func:`units` (a publication all of whose units went dark is absent: zero)."""
    if not ids:
        return {}
    sql, params = _without_hidden(
        """
SELECT du.disclosure_id, COUNT(*) FROM public_disclosure_unit du
WHERE du.disclosure_id IN :ids AND du.unit_code NOT IN :hidden
GROUP BY du.disclosure_id""",
        hidden,
    )
    rows = session.execute(sql.bindparams(bindparam("ids", expanding=True)), {"ids": ids, **params})
    return {r[0]: int(r[1]) for r in rows}


def _published(
    session: Session, found: list[Disclosure], hidden: frozenset[str]
) -> list[Published]:
    counts = _public_counts(session, [d.id for d in found], hidden)
    return [Published(d.id, d.region, d.as_of, d.published_at, counts.get(d.id, 0)) for d in found]


PUBLICATION_ID = re.compile(r"[0-9a-f]{32}")


def publication_input(publication: str | None, on: dt.date | None) -> str | None:
    """The ``publication`` parameter checked: a publication id (32 hex digits; 422 naming the
    field otherwise), and not with ``date`` (one or the other names the publication)."""
    if publication is None:
        return None
    if not PUBLICATION_ID.fullmatch(publication):
        raise invalid_field("publication", "format", "is not a publication id")
    if on is not None:
        raise invalid_field("publication", "conflict", "cannot be given with date")
    return publication


def latest(
    session: Session,
    region: str,
    on: dt.date | None,
    zone: dt.tzinfo,
    hidden: frozenset[str],
    publication: str | None = None,
) -> Published:
    """The region's publication in force (the latest), the latest published on or before
    the day ``on`` (hub time zone), or the region's publication ``publication`` (checked by
    :func:`publication_input`). None at all, or a publication of another region: 404, alike.
    ``hidden``: :func:`hidden_codes`."""
    query = select(Disclosure).where(Disclosure.region == region)
    if publication is not None:
        query = query.where(Disclosure.id == publication)
    if on is not None:
        end = dt.datetime.combine(on + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
        query = query.where(Disclosure.published_at < end)
    found = session.scalars(
        query.order_by(Disclosure.published_at.desc(), Disclosure.id.desc()).limit(1)
    ).first()
    if found is None:
        raise NotFound("Nothing is published for this region on that date.")
    return _published(session, [found], hidden)[0]


def history(session: Session, region: str, limit: int = 60) -> list[Publication]:
    """The region's publications, newest first (the public may read any of them)."""
    rows = session.scalars(
        select(Disclosure)
        .where(Disclosure.region == region)
        .order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
        .limit(limit)
    )
    return [Publication(d.id, d.region, d.as_of, d.published_at) for d in rows]


def regions(session: Session) -> list[Published]:
    """Each region's latest publication, by region code."""
    newest = (
        select(Disclosure.region, func.max(Disclosure.published_at).label("at"))
        .group_by(Disclosure.region)
        .subquery()
    )
    rows = session.scalars(
        select(Disclosure)
        .join(
            newest,
            (newest.c.region == Disclosure.region) & (newest.c.at == Disclosure.published_at),
        )
        .order_by(Disclosure.region, Disclosure.id.desc())
    )
    seen: dict[str, Disclosure] = {}
    for d in rows:
        seen.setdefault(d.region, d)
    return _published(session, list(seen.values()), hidden_codes(session))


def hidden_codes(session: Session) -> frozenset[str]:
    """The units that must not be public now: classified, or under a classified unit.

    Checked on every read, not only at publication: a unit classified after it was published
    is withdrawn from every publication at once (the snapshot itself stays as it was).

    On PostgreSQL the rest of the read's transaction runs without JIT: the recursive walk's
    estimated cost (a join per level of an unknown depth) passes ``jit_above_cost``, and
    compiling it took ~19 ms of a 21 ms walk that runs in 2 ms without (bench/RESULTS.md, the
    public face); no statement of a public read is large enough to gain from JIT."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
    return frozenset(session.scalars(text(f"{HIDDEN} SELECT unit_code FROM hidden")))


def _visible(content: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """The stored unit as the public may read it now: its ID-number-like text masked (a
    snapshot stored before publishing masked it is read masked), without internal units that
    have since gone dark, and without naming its parent when the parent has (a unit that left
    a bureau later classified: the bureau's code is not told)."""
    content = _masked(content)
    children = content["internal_units"]
    if any(c["unit_code"] in hidden for c in children):
        content["internal_units"] = [c for c in children if c["unit_code"] not in hidden]
    if content.get("parent_code") in hidden:
        content["parent_code"] = None
    return content


def units(
    session: Session,
    disclosure_id: str,
    *,
    after: str | None,
    limit: int,
    hidden: frozenset[str],
) -> list[dict[str, Any]]:
    """The publication's units by code that are still public (``hidden``: :func:`hidden_codes`),
    ``limit`` after ``after``."""
    sql, params = _without_hidden(
        """
SELECT du.content FROM public_disclosure_unit du
WHERE du.disclosure_id = :d AND du.unit_code > :after AND du.unit_code NOT IN :hidden
ORDER BY du.unit_code LIMIT :n""",
        hidden,
    )
    params |= {"d": disclosure_id, "after": after or "", "n": limit}
    rows = session.scalars(sql.columns(content=JSON), params)
    return [_visible(dict(c), hidden) for c in rows]


def unit(
    session: Session, disclosure_id: str, unit_code: str, hidden: frozenset[str]
) -> dict[str, Any]:
    content = None
    if unit_code not in hidden:
        content = session.scalar(
            select(DisclosureUnit.content).where(
                DisclosureUnit.disclosure_id == disclosure_id,
                DisclosureUnit.unit_code == unit_code,
            )
        )
    if content is None:  # never published, classified, or under a classified unit: the same
        raise NotFound("No such unit in this publication.")
    return _visible(dict(content), hidden)


def published_codes(session: Session, disclosure_id: str, codes: list[str]) -> set[str]:
    """Which of ``codes`` the publication holds (a unit's internal bodies registered in another
    region are listed on its page but published by that region)."""
    if not codes:
        return set()
    found = session.scalars(
        select(DisclosureUnit.unit_code).where(
            DisclosureUnit.disclosure_id == disclosure_id, DisclosureUnit.unit_code.in_(codes)
        )
    )
    return set(found)


def all_units(
    session: Session, disclosure_id: str, *, after: str | None, hidden: frozenset[str]
) -> list[dict[str, Any]]:
    """Every still-public unit of the publication after ``after``, a thousand at a time."""
    out: list[dict[str, Any]] = []
    while True:
        chunk = units(session, disclosure_id, after=after, limit=1000, hidden=hidden)
        out += chunk
        if len(chunk) < 1000:
            return out
        after = chunk[-1]["unit_code"]


# What each publication names (its units, their parents, their internal bodies wherever
# registered), by publication id: a publication never changes, so it is read once a process.
NAMED_KEPT = 32
_named: OrderedDict[str, frozenset[str]] = OrderedDict()
_named_lock = threading.Lock()


def named_codes(session: Session, disclosure_id: str) -> frozenset[str]:
    """Every unit code the publication's answers could show: its units, their parents and
    their internal bodies (stored in each unit's content, those of other regions too)."""
    with _named_lock:
        found = _named.get(disclosure_id)
        if found is not None:
            _named.move_to_end(disclosure_id)
            return found
    codes: set[str] = set()
    rows = session.execute(
        select(DisclosureUnit.unit_code, DisclosureUnit.parent_code, DisclosureUnit.content).where(
            DisclosureUnit.disclosure_id == disclosure_id
        )
    )
    for code, parent, content in rows:
        codes.add(code)
        if parent:
            codes.add(parent)
        codes.update(c["unit_code"] for c in (content or {}).get("internal_units") or [])
    named = frozenset(codes)
    with _named_lock:
        _named[disclosure_id] = named
        while len(_named) > NAMED_KEPT:
            _named.popitem(last=False)
    return named


def forget_named() -> None:
    """Empty the cache of :func:`named_codes` (the benchmark's first read)."""
    with _named_lock:
        _named.clear()


def hidden_tag(session: Session, disclosure_id: str, hidden: frozenset[str]) -> str:
    """A short digest, for ETags, of the units hidden now (``hidden``: :func:`hidden_codes`)
    that the publication's answers could name (:func:`named_codes`): withdrawing one changes
    every tag of the publication, while a unit classified that it never showed (a sibling
    county's, one never published) changes none — a tag of the whole hidden set told anyone
    polling a public page when classified units came and went anywhere in the hub."""
    named = sorted(hidden & named_codes(session, disclosure_id)) if hidden else []
    return hashlib.sha256("\x1f".join(named).encode()).hexdigest()[:16]


def page_of(
    session: Session, principal: Principal, *, limit: int, after: tuple[dt.datetime, str] | None
) -> list[Disclosure]:
    """Publications inside the caller's region, newest first (the office's own list)."""
    lo, hi = principal.region_bounds
    query = select(Disclosure).where(Disclosure.region.between(lo, hi))
    if after is not None:
        at, key = after
        query = query.where(
            (Disclosure.published_at < at)
            | ((Disclosure.published_at == at) & (Disclosure.id < key))
        )
    order = (Disclosure.published_at.desc(), Disclosure.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit)))
