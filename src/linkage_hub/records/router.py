"""Datasets: push, pull, single records with ETags, history, batches, the change feed."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from linkage_hub.auth.context import Context
from linkage_hub.auth.policy import CurrentPrincipal, person_reads
from linkage_hub.db import DbSession, StatementSession, run_in_session
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.domain import Dataset
from linkage_hub.errors import problem_responses
from linkage_hub.identifiers import PERIOD_PATTERN
from linkage_hub.inputs import BoundedDateTime
from linkage_hub.privacy.masking import mask_record
from linkage_hub.records import feed, ingest, service, shaping
from linkage_hub.records.datasets import SPECS
from linkage_hub.records.dependencies import (
    DatasetDep,
    note_person_reads,
    record_body,
    spooled_body,
)
from linkage_hub.records.parsing import SpooledBody, body_format
from linkage_hub.records.schemas import (
    BatchBody,
    BatchMode,
    BatchResult,
    ChangePage,
    HistoryPage,
    Record,
    RecordPage,
)
from linkage_hub.records.scope import QueryOptions, refuse_conflicting


def json_response(content: Any, headers: dict[str, str] | None = None) -> Response:
    """A hot read's answer encoded once by msgspec: the items are already plain JSON values
    (:func:`shaping.shape`), so FastAPI's validation of them against the response model and
    pydantic's encoding of ``Any`` (a quarter of a 100-record page's CPU) are skipped. The
    response model still documents the shape; tests/records compare answers field by field."""
    return Response(msgspec.json.encode(content), media_type="application/json", headers=headers)


router = APIRouter(prefix="/api/v1", tags=["datasets"])


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _ref("BatchBody")},
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "One record (JSON object) a line."}
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "A header row of field names, then one record a row; an "
                    "empty cell is null, booleans are true/false. UTF-8 (a BOM is allowed).",
                }
            },
        },
    }
}
RECORD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [_ref(spec.input_model.__name__) for spec in SPECS.values()]}
            }
        },
    }
}


def install_openapi_models(app: FastAPI) -> None:
    """Put the dataset input models into the OpenAPI components (the batch body is read as a
    stream, so FastAPI does not see them by itself)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        models: list[type[BaseModel]] = [BatchBody, *(s.input_model for s in SPECS.values())]
        _, defs = models_json_schema(
            [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in sorted(defs.get("$defs", {}).items()):
            components.setdefault(name, definition)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


@router.post(
    "/datasets/{dataset}/batches",
    operation_id="push_batch",
    name="push_batch",
    status_code=201,
    response_model=BatchResult,
    openapi_extra=BATCH_BODY,
    responses={
        200: {"model": BatchResult, "description": "Dry run: the counts, nothing applied."},
        **problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
    },
)
def push_batch(
    ctx: Context,
    dataset: DatasetDep,
    request: Request,
    response: Response,
    body: Annotated[SpooledBody, Depends(spooled_body)],
    mode: Annotated[BatchMode | None, Query(description="NDJSON/CSV: upsert or snapshot")] = None,
    region: Annotated[str | None, Query(description="NDJSON/CSV: the scope's region")] = None,
    period: Annotated[str | None, Query(description="NDJSON/CSV: payroll period")] = None,
    units: Annotated[
        list[str] | None, Query(description="NDJSON/CSV: unit codes (at most 1,000)")
    ] = None,
    dry_run: Annotated[bool, Query(description="Validate and count; apply nothing")] = False,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> BatchResult:
    """Push a batch of one dataset: JSON (`{"mode", "scope", "records", "deletes"}`),
    NDJSON or CSV (then `mode`, `region`, `period`, `units` are query parameters).

    - `upsert` writes the records given and closes those named in `deletes`; `snapshot` also
      closes every current record of the scope (region and below; `units` if given; the
      `period` for payroll) that the batch does not contain.
    - All or nothing: if any row is bad, nothing is applied and the 422 lists the bad rows
      (`row` counts from 1: the index in `records`, `deletes` numbered after them; the data
      line for NDJSON and CSV), up to a cap, with `total_errors`.
    - An empty body, or one of blank lines only, is refused (422 naming `body`): in a
      snapshot it would close everything. An empty batch is `{"records": []}`, or a CSV
      header row alone. A parameter that takes one value (`mode`, `region`, `period`,
      `dry_run`) given twice with different values is refused too, and so is a JSON body's
      `mode` or `scope.region`/`scope.period`/`scope.units` that differs from the query
      parameter. `scope.units` (or `units`) names at least one unit: an empty list is a 422
      `empty` (to cover the whole region, leave it out). A payroll `period` after next month
      (China Standard Time) is refused (422 `future`). A JSON body's member other than
      `mode`, `scope`, `records` and `deletes` is refused by its name (`unknown_field`).
    - A record equal to its current version makes no new version (`unchanged`).
    - A row (or delete) naming a unit outside your region (or outside `scope.units`, in
      every dataset: `outside_scope`) is a bad row; a unit missing
      from the registry is not (reconciliation reports it). A record's `region` is its
      unit's region in the registry (else the one in the unit code); a `units` batch that
      moves a unit to another region moves the unit's current records with it.
    - `Idempotency-Key`: a retry with the same key and request returns the first answer
      (header `Idempotent-Replayed: true`); the same key with another request is 422; a retry
      while the first is still running is 409.
    """
    refuse_conflicting(request.query_params.multi_items())
    options = QueryOptions(mode, region, period, units, dry_run)
    fmt = body_format(request.headers.get("content-type"))
    result, replayed = ingest.push_body(ctx, dataset, body, fmt, options, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if dry_run:
        response.status_code = 200
    return result


@router.get(
    "/batches/{batch_id}",
    operation_id="get_batch",
    name="get_batch",
    response_model=BatchResult,
    responses=problem_responses(401, 404),
)
def get_batch(principal: CurrentPrincipal, session: DbSession, batch_id: str) -> BatchResult:
    """A batch's answer again: its counts, mode and scope.

    The counts are as you read the records: an update that changed only fields you cannot
    read (`gross_pay`, for all but finance and audit) is no new version to you and counts as
    `unchanged`."""
    return service.get_batch(session, principal, batch_id)


@router.get(
    "/datasets/{dataset}/records",
    operation_id="list_records",
    name="list_records",
    response_model=RecordPage,
    responses=problem_responses(401, 404, 422),
)
async def list_records(
    principal: CurrentPrincipal,
    session: StatementSession,
    settings: SettingsDep,
    keyring: KeyringDep,
    dataset: DatasetDep,
    request: Request,
    region: str | None = None,
    unit_code: str | None = None,
    id_number: Annotated[str | None, Query(description="Matches any accepted form.")] = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    as_of: Annotated[
        BoundedDateTime | None,
        Query(
            description="RFC 3339: the state the hub held then; not after the hub's clock "
            "(422 `future`). The answer waits for writes in flight and never changes afterwards."
        ),
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 100,
    mask: Annotated[
        bool, Query(description="Mask ID numbers (`2301**********1234`) for wider circulation.")
    ] = False,
) -> Response:
    """The current records of a dataset in your region (or, with `as_of`, the records the
    hub held at that moment, in the regions they had then), keyset-paginated by record key:
    following `next_cursor` lists each record once, even one updated between two pages, and
    skips none that was there when the first page was read (one added meanwhile may or may not
    come). A cursor issued before the list paged by record key is a 422: start again. A
    `region` outside yours (a sibling's, or one above) is a 404, as for the cases and meetings.

    `version`, `batch_id`, `client_id` and `recorded_at` are those of the last version that
    changed a field you read: a change of `gross_pay` alone is no new version to a department
    that cannot read pay (its ETag stays the same too).

    ID numbers come in full (your system needs them to match); `mask=true` masks them for a
    list that circulates further, and any typed into a record's text (a cadre's position, a
    unit's name), not the unit codes. Every read of person records is entered in the audit log."""
    shown = await run_in_session(
        session,
        lambda: service.list_records(
            session,
            keyring,
            settings,
            principal,
            dataset,
            region=region,
            unit_code=unit_code,
            id_number=id_number,
            period=period,
            as_of=as_of,
            cursor=cursor,
            limit=limit,
        ),
    )
    note_person_reads(request, keyring, dataset, shown.items, shown.persons)
    items = shown.items
    if mask:
        items = [mask_record(r) for r in items]
    return json_response({"items": items, "next_cursor": shown.next_cursor})


@router.get(
    "/datasets/{dataset}/records/{record_key}",
    operation_id="get_record",
    name="get_record",
    response_model=Record,
    responses=problem_responses(401, 404),
)
async def get_record(
    principal: CurrentPrincipal,
    session: StatementSession,
    keyring: KeyringDep,
    dataset: DatasetDep,
    record_key: str,
    request: Request,
) -> Response:
    """The current version of one record, with its `ETag` (send it as `If-Match` to PUT or
    DELETE)."""
    shown, tag = await run_in_session(
        session, lambda: service.get_record(session, keyring, principal, dataset, record_key)
    )
    note_person_reads(request, keyring, dataset, shown.items, shown.persons)
    return json_response(shown.items[0], headers={"ETag": tag})


@router.put(
    "/datasets/{dataset}/records/{record_key}",
    operation_id="replace_record",
    name="replace_record",
    response_model=Record,
    openapi_extra=RECORD_BODY,
    responses=problem_responses(400, 401, 403, 404, 412, 422, 428),
)
def replace_record(
    ctx: Context,
    dataset: DatasetDep,
    record_key: str,
    request: Request,
    response: Response,
    body: Annotated[Any, Depends(record_body)],
    if_match: Annotated[str | None, Header()] = None,
) -> Record:
    """Replace a record with a new version (the natural key must stay the same). Needs
    `If-Match` with the current `ETag`: 428 without it, 412 when the record changed since."""
    shown, tag, _result = service.replace_record(ctx, dataset, record_key, body, if_match)
    response.headers["ETag"] = tag
    note_person_reads(request, ctx.keyring, dataset, shown.items, shown.persons)
    return shown.items[0]


@router.delete(
    "/datasets/{dataset}/records/{record_key}",
    operation_id="delete_record",
    name="delete_record",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 412, 422, 428),
)
def delete_record(
    ctx: Context,
    dataset: DatasetDep,
    record_key: str,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Close a record: it stays in its history but is no longer current. Needs `If-Match`."""
    service.delete_record(ctx, dataset, record_key, if_match)
    return Response(status_code=204)


@router.get(
    "/datasets/{dataset}/records/{record_key}/history",
    operation_id="get_record_history",
    name="get_record_history",
    response_model=HistoryPage,
    responses=problem_responses(401, 404),
)
async def get_record_history(
    principal: CurrentPrincipal,
    session: DbSession,
    keyring: KeyringDep,
    dataset: DatasetDep,
    record_key: str,
    request: Request,
) -> HistoryPage:
    """Every version of a record, oldest first: which batch and client wrote it, when it was
    recorded and when (and by which batch) it was closed.

    A version's region is part of it: you read the versions whose region lies in yours. A
    record of a unit that moved between regions shows each region the versions written while
    the unit was there (the city above both reads them all). Versions that differ only in a
    field you cannot read (`gross_pay`) show as one: the first, closed when the last was."""
    page = await run_in_session(
        session, lambda: service.history(session, keyring, principal, dataset, record_key)
    )
    note_person_reads(request, keyring, dataset, page.items)
    return page


@router.get(
    "/changes",
    operation_id="list_changes",
    name="list_changes",
    response_model=ChangePage,
    responses=problem_responses(401, 404, 422),
)
def list_changes(
    principal: CurrentPrincipal,
    session: DbSession,
    keyring: KeyringDep,
    request: Request,
    since: Annotated[str | None, Query(description="The next_cursor of your last poll.")] = None,
    dataset: Dataset | None = None,
    region: Annotated[
        str | None, Query(description="Only this region and below: inside yours (else 404).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 100,
) -> ChangePage:
    """Every change to the datasets of your region in commit order: a new version (`upsert`)
    or a record closed by a delete or a snapshot (`close`), each with the version's record.

    Keep a synchronised copy by polling with `since` set to the last `next_cursor`: no change
    is ever skipped, even when batches commit out of order. A page holds `limit` changes
    unless the feed ends first: an empty page means you have caught up.

    When a unit moves to another region, the unit and every current record of it leave one
    region and enter the other: the region left reads a `close` of each, the region entered
    an `upsert` of a new version (the next version number, same fields, in the new region);
    a reader covering both reads the `close` first. Each change carries the `region` its
    version had, which never changes.

    A department that cannot read a field (`gross_pay`: all but finance and audit) reads no
    change for a version that changed only that field (see the record's `version`); the page
    steps over such changes and goes on reading, so it is not cut short by them.

    A `region` outside yours (a sibling's, or one above) is a 404, as for the cases, meetings
    and the records list, not an empty page."""
    page, persons = feed.read_changes(
        session, keyring, principal, since=since, dataset=dataset, region=region, limit=limit
    )
    sent = [c.record for c in page.items if c.record is not None and c.record.get("id_number")]
    person_reads(request).add_all(shaping.persons_read(keyring, sent), records=persons)
    return page
