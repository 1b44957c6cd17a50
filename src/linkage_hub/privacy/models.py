"""State of a key rotation, so that ``linkage-hub keys rotate`` can be stopped and resumed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base, UtcDateTime


class KeyRotation(Base):
    """One rotation to ``target_version``: done when ``finished_at`` is set. ``table_name`` and
    ``after_id`` say where the batches have got to; ``rows_done`` counts rewritten rows."""

    __tablename__ = "privacy_key_rotation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target_version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    table_name: Mapped[str | None] = mapped_column(String(40))
    after_id: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)


class PersonKeyMap(Base):
    """Old person key → new, filled while a rotation rewrites the dataset tables and used to
    re-key the tables that hold person keys without an ID number (findings); emptied at the end.
    Keyed hashes only: no ID number."""

    __tablename__ = "privacy_person_key_map"

    old_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    new_key: Mapped[str] = mapped_column(String(32))


class IdKeyFingerprint(Base):
    """The fingerprint of each ID key version the hub has sealed under (a keyed hash of a fixed
    label, never the key: :meth:`linkage_hub.keys.KeySet.fingerprints`), recorded if absent
    when a process makes its first keyring. A process whose key set holds another secret under
    a recorded version, or none of the recorded versions, refuses to seal: two replicas started
    together on a new database cannot each generate their own "v1"."""

    __tablename__ = "privacy_id_key"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
