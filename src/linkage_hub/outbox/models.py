"""One row per event, in commit order.

An event row is thin on purpose: type, the columns subscriptions filter on (region, unit,
dataset, rule, severity) and the ids a payload is built from at delivery (finding, batch, run,
change-feed range). No column holds an ID number, a name or pay.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base, UtcDateTime


class OutboxEvent(Base):
    __tablename__ = "outbox_event"

    # Drawn under the change feed's lock, held until commit (outbox.write): a reader that sees
    # id n committed has seen every smaller id that will ever commit.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(32), unique=True)  # the webhook-id
    type: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(6))
    unit_code: Mapped[str | None] = mapped_column(String(18))
    dataset: Mapped[str | None] = mapped_column(String(20))
    rule: Mapped[str | None] = mapped_column(String(40))
    severity: Mapped[str | None] = mapped_column(String(10))
    finding_id: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(36))
    run_id: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # small, never person data
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
