"""Set-based reads of the auth room."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from linkage_hub.auth.models import AccessRecord, AuthClient
from linkage_hub.auth.schemas import AccessRecordItem
from linkage_hub.domain import Department


@dataclass(frozen=True, slots=True)
class AccessRecordFilter:
    region_bounds: tuple[str, str]
    client_id: str | None = None
    department: str | None = None
    recorded_from: dt.datetime | None = None
    recorded_to: dt.datetime | None = None
    route: str | None = None


def access_records_page(
    session: Session, where: AccessRecordFilter, *, limit: int, before_id: int | None
) -> tuple[list[AccessRecordItem], int | None]:
    """Newest first; returns the page and the id to continue below (keyset), if any."""
    query = (
        select(AccessRecord, AuthClient.name)
        .outerjoin(AuthClient, AuthClient.client_id == AccessRecord.client_id)
        .where(AccessRecord.region.between(*where.region_bounds))
    )
    if where.client_id is not None:
        query = query.where(AccessRecord.client_id == where.client_id)
    if where.department is not None:
        query = query.where(AccessRecord.department == where.department)
    if where.recorded_from is not None:
        query = query.where(AccessRecord.recorded_at >= where.recorded_from)
    if where.recorded_to is not None:
        query = query.where(AccessRecord.recorded_at < where.recorded_to)
    if where.route is not None:
        query = query.where(AccessRecord.route == where.route)
    if before_id is not None:
        query = query.where(AccessRecord.id < before_id)
    rows = session.execute(query.order_by(AccessRecord.id.desc()).limit(limit + 1)).all()
    items = [
        AccessRecordItem(
            id=record.id,
            recorded_at=record.recorded_at,
            client_id=record.client_id,
            client_name=name,
            department=Department(record.department),
            region=record.region,
            method=record.method,
            route=record.route,
            status=record.status,
            person_records=record.person_records,
            request_id=record.request_id,
            client_request_id=record.client_request_id,
            source_address=record.source_address,
        )
        for record, name in rows[:limit]
    ]
    more = len(rows) > limit
    return items, (items[-1].id if more and items else None)
