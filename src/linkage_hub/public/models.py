"""Disclosures: dated, immutable snapshots of a region's public staffing data.

A publication is one :class:`Disclosure` row and one :class:`DisclosureUnit` row per public
unit, written once and never updated (nothing in the hub changes or deletes them; the retention
promise is "at least a year", and today they are kept for good). A unit row holds what the
public may see of the unit as it stood when published, never a person.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base, UtcDateTime


class Disclosure(Base):
    __tablename__ = "public_disclosure"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    region: Mapped[str] = mapped_column(String(6))
    as_of: Mapped[dt.date] = mapped_column(Date)  # the business date the figures stand on
    published_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    published_by: Mapped[str] = mapped_column(String(64))
    unit_count: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_public_disclosure_region", "region", "published_at"),)


class DisclosureUnit(Base):
    __tablename__ = "public_disclosure_unit"

    disclosure_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)  # the public unit, as published
