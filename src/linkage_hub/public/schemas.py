"""Bodies of disclosures: the office's publishing and the public's reading (API.md, "The
public face")."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from linkage_hub.identifiers import REGION_PATTERN

REGION = REGION_PATTERN


class DisclosureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = Field(pattern=REGION, description="Inside the caller's region.")
    as_of: dt.date | None = Field(
        default=None, description="The business date the figures stand on (default: today)."
    )


class DisclosureOut(BaseModel):
    id: str
    region: str
    as_of: dt.date
    published_at: dt.datetime
    published_by: str
    unit_count: int


class DisclosurePage(BaseModel):
    items: list[DisclosureOut]
    next_cursor: str | None


class InternalUnit(BaseModel):
    unit_code: str
    name: str


class PublicQuota(BaseModel):
    establishment_type: str
    approved: int
    on_roster: int
    document_no: str | None


class PublicLeaderPost(BaseModel):
    level: str
    approved: int
    serving: int
    document_no: str | None = None


class PublicUnit(BaseModel):
    unit_code: str
    name: str
    region: str
    kind: str
    funding: str
    parent_code: str | None
    functions: str | None
    internal_units: list[InternalUnit]
    quotas: list[PublicQuota]
    leader_posts: list[PublicLeaderPost]


class PublicDisclosure(BaseModel):
    region: str
    as_of: dt.date
    published_at: dt.datetime
    units: list[PublicUnit]
    next_cursor: str | None = Field(description="The next page of units, by unit code.")


class PublicUnitPublished(PublicUnit):
    as_of: dt.date
    published_at: dt.datetime


class Preview(BaseModel):
    region: str
    as_of: dt.date
    units: list[PublicUnit]
