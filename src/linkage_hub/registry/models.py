"""The establishment office's registry: units, quotas and leader posts, versioned like every
other dataset (see :mod:`linkage_hub.versioning`). A row is one *version*; the current
version of a record has ``closed_at IS NULL``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base
from linkage_hub.versioning import VersionColumns


class RegistryUnit(VersionColumns, Base):
    __tablename__ = "registry_unit"

    unit_code: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    funding: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(18))
    classified: Mapped[bool] = mapped_column(Boolean, default=False)
    functions: Mapped[str | None] = mapped_column(Text)
    internal_unit_limit: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    established_on: Mapped[dt.date | None] = mapped_column(Date)
    abolished_on: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (
        *VersionColumns.version_indexes("registry_unit"),
        Index(
            "ix_registry_unit_current_unit_code",
            "unit_code",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index(
            "ix_registry_unit_current_parent_code",
            "parent_code",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        # Where the walk for what must never be public starts (public.disclosures.HIDDEN).
        Index(
            "ix_registry_unit_classified",
            "unit_code",
            sqlite_where=text("classified"),
            postgresql_where=text("classified"),
        ),
    )


class RegistryQuota(VersionColumns, Base):
    __tablename__ = "registry_quota"

    unit_code: Mapped[str] = mapped_column(String(18))
    establishment_type: Mapped[str] = mapped_column(String(20))
    approved: Mapped[int] = mapped_column(Integer)
    document_no: Mapped[str | None] = mapped_column(String(100))
    effective_on: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (
        *VersionColumns.version_indexes("registry_quota"),
        Index(
            "ix_registry_quota_current_unit_code",
            "unit_code",
            "establishment_type",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )


class RegistryLeaderPost(VersionColumns, Base):
    __tablename__ = "registry_leader_post"

    unit_code: Mapped[str] = mapped_column(String(18))
    level: Mapped[str] = mapped_column(String(10))
    approved: Mapped[int] = mapped_column(Integer)
    document_no: Mapped[str | None] = mapped_column(String(100))
    effective_on: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (
        *VersionColumns.version_indexes("registry_leader_post"),
        Index(
            "ix_registry_leader_post_current_unit_code",
            "unit_code",
            "level",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )
