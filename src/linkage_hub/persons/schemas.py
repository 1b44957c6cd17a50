"""API models of the person view."""

from __future__ import annotations

from pydantic import BaseModel, Field

from linkage_hub.reconciliation.schemas import FindingOut
from linkage_hub.records.schemas import Record


class PersonView(BaseModel):
    """One person's current records, department by department, side by side."""

    id_number: str = Field(description="The normalised 18-character ID number.")
    names: list[str] = Field(description="Every name the departments use, as written.")
    records: dict[str, list[Record]] = Field(
        description="Current records by dataset: roster, cadres, employment, payroll."
    )
    payroll_period: str | None = Field(
        description="The period of the payroll lines shown (the person's latest by default)."
    )
    discrepancies: list[FindingOut] = Field(
        default_factory=list,
        description="The person's live discrepancies (open, acknowledged, waived, reopened) in "
        "your region, most severe first.",
    )
