"""auth_throttle keyed by the client id with any ID number in it masked

Revision ID: 0026_throttle_masked
Revises: 0025_watermark_dropped
Create Date: 2026-12-07 10:00:00

Failed sign-ins were counted under the client id as typed, so a username that is an ID
number (or one typed into the field) was kept in clear for a day. The hub now counts them
under the id masked (``linkage_hub.auth.service.throttle_key``); this carries the rows written
before over, so a lockout standing at the upgrade still locks, and no clear number stays. A
row whose masked id the same address already holds is merged into it (the more failures, the
later lock and failure). The table holds a day of failures: a loop over it is a few rows.
Downgrade leaves the rows masked (their clear ids are not kept anywhere).

An API client's own id (``lhc_`` and 24 hex characters) is left as it is: the hub counts it
so (``throttle_key`` since 2026-12-07, as ``audit.service.named``). A database that ran this
step before then holds such a row masked for at most a day, its lock no longer applied.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from linkage_hub.identifiers import mask_id_numbers_in

revision: str = "0026_throttle_masked"
down_revision: str | None = "0025_watermark_dropped"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

throttle = sa.table(
    "auth_throttle",
    sa.column("client_id", sa.String),
    sa.column("address", sa.String),
    sa.column("failures", sa.Integer),
    sa.column("locked_until", sa.DateTime),
    sa.column("failed_at", sa.DateTime),
)


_API_CLIENT_ID = re.compile(r"lhc_[0-9a-f]{24}")


def _later(a: object, b: object) -> object:
    return b if a is None else a if b is None else max(a, b)  # type: ignore[type-var]


def upgrade() -> None:
    conn = op.get_bind()
    for row in conn.execute(sa.select(throttle)).all():
        if _API_CLIENT_ID.fullmatch(row.client_id):
            continue
        key = mask_id_numbers_in(row.client_id)
        if key == row.client_id:
            continue
        mine = (throttle.c.client_id == key) & (throttle.c.address == row.address)
        held = conn.execute(sa.select(throttle).where(mine)).first()
        if held is None:
            conn.execute(
                throttle.insert().values(
                    client_id=key,
                    address=row.address,
                    failures=row.failures,
                    locked_until=row.locked_until,
                    failed_at=row.failed_at,
                )
            )
        else:
            conn.execute(
                throttle.update()
                .where(mine)
                .values(
                    failures=max(held.failures, row.failures),
                    locked_until=_later(held.locked_until, row.locked_until),
                    failed_at=_later(held.failed_at, row.failed_at),
                )
            )
        conn.execute(
            throttle.delete().where(
                (throttle.c.client_id == row.client_id) & (throttle.c.address == row.address)
            )
        )


def downgrade() -> None:
    pass
