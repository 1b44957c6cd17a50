"""The scope of a batch: mode, region (and below), units, payroll period; and the request
fingerprint that an ``Idempotency-Key`` is bound to."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from linkage_hub.auth.principal import Principal
from linkage_hub.domain import Dataset
from linkage_hub.errors import FieldError, InvalidInput
from linkage_hub.identifiers import IdentifierError, normalise_region, normalise_unit_code
from linkage_hub.records.datasets import DatasetSpec
from linkage_hub.records.fields import FieldInvalid, not_future
from linkage_hub.records.fields import period as check_period
from linkage_hub.records.parsing import BodyFormat
from linkage_hub.records.schemas import BatchMode

# The most unit codes ``scope.units`` may name. A batch narrowed to units names a few (a city
# office's own units, one unit's roster); a region's whole registry is a snapshot of the
# region. The list is stored on the batch, so it is bounded (the audit log keeps only its
# count and digest: see ingest.audit_batch).
MAX_SCOPE_UNITS = 1_000

# The push's query parameters that take one value. Given twice, the framework keeps the last,
# so `mode=upsert&mode=snapshot` would apply a snapshot (and `dry_run=true&dry_run=false`
# apply the batch): two different values are refused, the same one twice is harmless.
SINGLE_PARAMETERS = frozenset({"mode", "region", "period", "dry_run"})


@dataclass
class BatchScope:
    """What the batch covers: a region (and below), optionally some units, a payroll period."""

    mode: BatchMode
    region: str
    period: str | None = None
    units: list[str] | None = None


@dataclass
class QueryOptions:
    """Query parameters of the push (the scope of NDJSON and CSV bodies)."""

    mode: BatchMode | None = None
    region: str | None = None
    period: str | None = None
    units: list[str] | None = None
    dry_run: bool = False


def _scope_error(field_name: str, code: str, message: str) -> InvalidInput:
    return InvalidInput(
        "The batch's scope is not valid.",
        errors=[FieldError(field=field_name, code=code, message=message)],
        total_errors=1,
    )


def _given_twice(name: str) -> InvalidInput:
    return _scope_error(name, "conflict", "differs from the query parameter of the same name")


def refuse_conflicting(parameters: Iterable[tuple[str, str]]) -> None:
    """A 422 naming the first of :data:`SINGLE_PARAMETERS` given with two different values."""
    first: dict[str, str] = {}
    for name, value in parameters:
        if name in SINGLE_PARAMETERS and first.setdefault(name, value) != value:
            raise _scope_error(name, "conflict", "is given twice with different values")


def resolve_scope(
    spec: DatasetSpec,
    principal: Principal,
    members: dict[str, Any],
    options: QueryOptions,
    today: dt.date,
) -> BatchScope:
    """The scope from the JSON body's ``mode``/``scope`` (no other member gets this far:
    ``parsing.json_members`` refuses it by its name) or the query parameters. A payroll
    period after ``today``'s next month is refused (:func:`fields.not_future`)."""
    raw_mode = members.get("mode", options.mode or BatchMode.upsert)
    try:
        mode = BatchMode(raw_mode)
    except ValueError:
        raise _scope_error("mode", "enum", "must be upsert or snapshot") from None
    if "mode" in members and options.mode is not None and mode != options.mode:
        raise _given_twice("mode")
    scope = members.get("scope", {})
    if not isinstance(scope, dict) or set(scope) - {"region", "period", "units"}:
        raise _scope_error("scope", "type", "is an object with region, period and units")
    for name, given in (("region", options.region), ("period", options.period)):
        # The body's scope wins where both are given: two different answers are refused,
        # as the same parameter given twice is (refuse_conflicting).
        if name in scope and given is not None and str(scope[name]) != given:
            raise _given_twice(f"scope.{name}")
    raw_region = scope.get("region", options.region)
    if raw_region is None:  # not given: the caller's region
        raw_region = principal.region
    elif isinstance(raw_region, bool) or not isinstance(raw_region, str | int):
        raise _scope_error("scope.region", "type", "is a region code")
    elif not str(raw_region).strip():
        # As for units: a blank region (`region=`, `"region": ""`) is a job's empty variable,
        # not "the caller's region" — a snapshot of that closed the records of every region
        # the rows did not name.
        raise _scope_error("scope.region", "empty", "is blank; leave it out for your region")
    try:
        region = normalise_region(str(raw_region))
    except IdentifierError as exc:
        raise _scope_error("scope.region", exc.code, exc.message) from None
    if not principal.contains(region):
        raise _scope_error("scope.region", "outside_region", "lies outside the caller's region")
    period = scope.get("period", options.period)
    if spec.dataset is Dataset.payroll:
        if period is None:
            raise _scope_error("scope.period", "missing", "is required for payroll")
        try:
            period = check_period(period)
            not_future(period, today)
        except FieldInvalid as exc:
            raise _scope_error("scope.period", exc.code, exc.message) from None
    elif period is not None:
        raise _scope_error("scope.period", "not_applicable", "applies to payroll only")
    units = None if options.units is None else _scope_units(options.units)
    if scope.get("units") is not None:
        # As region and period: two different lists (once normalised) are refused.
        body_units = _scope_units(scope["units"])
        if units is not None and body_units != units:
            raise _given_twice("scope.units")
        units = body_units
    return BatchScope(mode, region, period, units)


def _scope_units(raw: Any, cap: int = 20) -> list[str]:
    """The unit codes of ``scope.units``, at least one, each valid (a 422 names every bad
    one, up to ``cap``), at most :data:`MAX_SCOPE_UNITS`. Whether they lie in the batch's
    region is checked against the registry with the rows (``Pusher.check_stage``)."""
    if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw):
        raise _scope_error("scope.units", "type", "is a list of unit codes")
    if not any(u.strip() for u in raw):
        # No unit named (`[]`, or the query's `units=`) is not "no narrowing": a snapshot of
        # it would close every record of the region.
        raise _scope_error("scope.units", "empty", "names no unit; leave it out for the region")
    if len(raw) > MAX_SCOPE_UNITS:
        raise _scope_error(
            "scope.units", "too_many", f"names at most {MAX_SCOPE_UNITS} units, not {len(raw)}"
        )
    units: set[str] = set()
    errors: list[FieldError] = []
    for n, code in enumerate(raw):
        try:
            units.add(normalise_unit_code(code))
        except IdentifierError as exc:
            errors.append(FieldError(field=f"scope.units[{n}]", code=exc.code, message=exc.message))
    if errors:
        raise InvalidInput(
            "The batch's scope is not valid.", errors=errors[:cap], total_errors=len(errors)
        )
    return sorted(units)


def request_hash(dataset: Dataset, options: QueryOptions, fmt: BodyFormat, body_sha: str) -> str:
    parts = [
        dataset.value,
        fmt.value,
        str(options.mode or ""),
        options.region or "",
        options.period or "",
        ",".join(options.units or ()),
        body_sha,
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
