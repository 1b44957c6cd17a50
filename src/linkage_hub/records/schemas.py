"""API models of the datasets room (the input models of each dataset are in datasets.py)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from linkage_hub.clock import aware
from linkage_hub.domain import Dataset
from linkage_hub.records.datasets import (
    CadreInput,
    EmploymentInput,
    LeaderPostInput,
    PayrollInput,
    QuotaInput,
    RosterInput,
    UnitInput,
)

if TYPE_CHECKING:
    from linkage_hub.records.models import Batch


class BatchMode(StrEnum):
    upsert = "upsert"
    snapshot = "snapshot"


class ChangeOp(StrEnum):
    upsert = "upsert"
    close = "close"


class BatchResult(BaseModel):
    """What a batch did. ``dry_run`` answers carry the counts the batch would produce."""

    batch_id: str | None = Field(description="Null for a dry run.")
    dataset: Dataset
    mode: BatchMode
    received: int = Field(description="Rows received: records and deletes.")
    inserted: int = Field(description="Records new to the hub.")
    updated: int = Field(description="Records whose current version changed.")
    unchanged: int = Field(description="Records equal to their current version (no version).")
    closed: int = Field(description="Records closed by deletes or by the snapshot.")
    dry_run: bool = False
    recorded_at: dt.datetime | None = None
    scope_region: str | None = None
    scope_period: str | None = None

    @classmethod
    def of(cls, batch: Batch) -> BatchResult:
        return cls(
            batch_id=batch.batch_id,
            dataset=Dataset(batch.dataset),
            mode=BatchMode(batch.mode),
            received=batch.received,
            inserted=batch.inserted,
            updated=batch.updated,
            unchanged=batch.unchanged,
            closed=batch.closed,
            recorded_at=aware(batch.recorded_at),
            scope_region=batch.scope_region,
            scope_period=batch.scope_period,
        )


Record = dict[str, Any]


class RecordPage(BaseModel):
    """A page of records. Each item has the dataset's fields plus ``record_key``, ``version``,
    ``batch_id``, ``recorded_at`` (and ``closed_at`` when read ``as_of`` a past moment)."""

    items: list[Record]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class HistoryPage(BaseModel):
    """Every version of one record, oldest first, with ``closed_at`` / ``closed_batch_id``."""

    record_key: str
    dataset: Dataset
    items: list[Record]


class ChangeItem(BaseModel):
    seq: int
    dataset: Dataset
    record_key: str
    version: int
    op: ChangeOp
    region: str = Field(
        description="The region of the version this change wrote or closed, as it was then: "
        "a unit move is a `close` in the region left and an `upsert` of a new version in the "
        "region entered."
    )
    batch_id: str
    recorded_at: dt.datetime
    record: Record | None = Field(description="The version this change wrote or closed.")


class ChangePage(BaseModel):
    """Changes in commit order. Poll again with ``since=next_cursor``; the cursor does not move
    when there is nothing new."""

    items: list[ChangeItem]
    next_cursor: str


class BatchScopeBody(BaseModel):
    """What a snapshot replaces: the region and below (default: the caller's region),
    optionally only some units, and for payroll the period (required)."""

    region: str | None = Field(None, examples=["230100"])
    period: str | None = Field(None, examples=["2026-10"])
    units: list[str] | None = Field(
        None,
        description="Unit codes narrowing the scope: at most 1,000, each valid and registered "
        "(else by the region in its code) inside the batch's region.",
    )


class BatchBody(BaseModel):
    """A JSON batch. ``records`` are of the path's dataset (see its input model); ``deletes``
    hold natural keys only (e.g. ``{"id_number", "unit_code"}``)."""

    mode: BatchMode = BatchMode.upsert
    scope: BatchScopeBody | None = None
    records: list[
        UnitInput
        | QuotaInput
        | LeaderPostInput
        | RosterInput
        | CadreInput
        | EmploymentInput
        | PayrollInput
    ] = Field(default_factory=list)
    deletes: list[dict[str, str]] = Field(default_factory=list)
