"""Report payloads."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, Field

from linkage_hub.reports.staffing import LIGHTS, StaffingRow
from linkage_hub.reports.tenure import Tenure, TenureFinding, TenureMonth


class StaffingReportRow(BaseModel):
    unit_code: str
    unit_name: str
    region: str
    establishment_type: str
    approved: int
    on_roster: int
    employed: int
    paid: int
    payroll_period: str | None = Field(
        description="The payroll period `paid` counts: the latest one not after `as_of`'s month "
        "for which units of the unit's own region (that very code, not the regions below it) have "
        "payroll lines (null: none)."
    )
    difference: int
    light: Literal["over", "full", "under"]
    light_zh: str

    @classmethod
    def from_row(cls, row: StaffingRow) -> StaffingReportRow:
        return cls(
            unit_code=row.unit_code,
            unit_name=row.unit_name,
            region=row.region,
            establishment_type=row.establishment_type,
            approved=row.approved,
            on_roster=row.on_roster,
            employed=row.employed,
            paid=row.paid,
            payroll_period=row.payroll_period,
            difference=row.difference,
            light=row.light,
            light_zh=LIGHTS[row.light],
        )


class StaffingReport(BaseModel):
    region: str
    as_of: dt.date
    payroll_period: str | None = Field(
        description="The latest payroll period not after `as_of`'s month with lines anywhere in "
        "the region; each row's `paid` counts its own unit's region's `payroll_period`."
    )
    items: list[StaffingReportRow]


class TenureMonthOut(BaseModel):
    month: str
    approved: int
    on_roster: int
    paid: int
    leader_posts: int
    leaders: int


class TenureFindingOut(BaseModel):
    id: str
    rule: str
    severity: str
    status: str
    unit_code: str | None
    id_number: str | None
    name: str | None
    summary_zh: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None = Field(
        description="When its last open spell in the period was resolved or waived; null while "
        "that spell lasts."
    )
    closed_as: Literal["resolved", "waived"] | None
    days_open: int = Field(
        description="Days it was open from first found to closed_at, or to now; days when it "
        "was resolved or waived in between do not count."
    )


class TenureReport(BaseModel):
    unit_code: str
    unit_name: str | None
    id_number: str
    name: str
    position: str | None
    from_: dt.date = Field(alias="from", serialization_alias="from")
    to: dt.date
    generated_on: dt.date
    months: list[TenureMonthOut]
    findings: list[TenureFindingOut]

    model_config = {"populate_by_name": True, "serialize_by_alias": True}

    @classmethod
    def build(
        cls,
        tenure: Tenure,
        months: list[TenureMonth],
        findings: list[TenureFinding],
        today: dt.date,
    ) -> TenureReport:
        return cls(
            unit_code=tenure.unit_code,
            unit_name=tenure.unit_name,
            id_number=tenure.id_number,
            name=tenure.name,
            position=tenure.position,
            from_=tenure.start,
            to=tenure.end,
            generated_on=today,
            months=[TenureMonthOut(**asdict(m)) for m in months],
            findings=[TenureFindingOut(**asdict(f, dict_factory=_shown)) for f in findings],
        )


def _shown(items: list[tuple[str, object]]) -> dict[str, object]:
    """A dataclass's fields without the person key (kept for the audit log, never shown)."""
    return {k: v for k, v in items if k != "person_key"}
