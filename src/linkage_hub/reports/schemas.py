"""Report payloads."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from linkage_hub.reports.staffing import LIGHTS, StaffingRow


class StaffingReportRow(BaseModel):
    unit_code: str
    unit_name: str
    region: str
    establishment_type: str
    approved: int
    on_roster: int
    employed: int
    paid: int
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
            difference=row.difference,
            light=row.light,
            light_zh=LIGHTS[row.light],
        )


class StaffingReport(BaseModel):
    region: str
    as_of: dt.date
    payroll_period: str | None
    items: list[StaffingReportRow]
