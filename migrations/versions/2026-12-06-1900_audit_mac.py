"""audit: a MAC on every audit-log entry, keyed by the audit key

Revision ID: 0024_audit_mac
Revises: 0023_closed_person_index
Create Date: 2026-12-06 19:00:00

The hash chain has no key: whoever can write the database can alter an entry, recompute every
later hash and still pass verify. ``audit_log.mac`` is HMAC-SHA256 under the audit key
(``LINKAGE_AUDIT_KEY``, else ``linkage-hub.audit.key`` in the secrets directory: the hub's own
loader, so set the variable for ``migrate`` as for the hub) of ``{seq}\\n{hash}``
(``linkage_hub.audit.chain.mac``). Hashes stay as they were, so anchors stay valid.

Every existing entry gets its MAC here, so that verify can demand one of every entry: a log
with entries before some switch-over point left unauthenticated would let the attacker move
that point. The column is added in place (the table's triggers stay); the append-only trigger
that refuses UPDATE is lifted for the backfill alone. On PostgreSQL the MAC is computed in SQL
(HMAC from ``sha256()`` and the key's two pads: no extension needed), a range of seqs a
statement, in the migration's transaction: on error the trigger comes back with the rollback.
On SQLite the MACs are computed here, a chunk at a time, and the trigger is put back whatever
happens.
"""

import hashlib
import hmac
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from linkage_hub.keys import audit_key
from linkage_hub.settings import Settings, get_settings

revision: str = "0024_audit_mac"
down_revision: str | None = "0023_closed_person_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 50_000
UPDATE_GUARD = {"postgresql": "audit_log_append_only", "sqlite": "audit_log_no_update"}

# HMAC-SHA256 (RFC 2104): sha256(outer pad || sha256(inner pad || message)).
PG_BACKFILL = sa.text(
    "UPDATE audit_log SET mac = encode(sha256(:outer || sha256(:inner || "
    "convert_to(CAST(seq AS text) || chr(10) || hash, 'UTF8'))), 'hex') "
    "WHERE seq > :lo AND seq <= :hi"
)


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("mac", sa.String(length=64), nullable=True))
    if context.is_offline_mode():
        raise RuntimeError("0024_audit_mac fills every entry's mac: run it online")
    bind = op.get_bind()
    last = bind.scalar(sa.text("SELECT max(seq) FROM audit_log"))
    if last is None:
        return  # an empty log: no key is needed (nor made) here
    key = audit_key(_settings())
    if bind.dialect.name == "postgresql":
        _backfill_postgres(bind, key, int(last))
    else:
        _backfill_sqlite(bind, key)


def downgrade() -> None:
    op.drop_column("audit_log", "mac")


def _settings() -> Settings:
    settings: Settings | None = context.config.attributes.get("settings")
    return settings or get_settings()


def mac(key: bytes, seq: int, hash: str) -> str:
    """``linkage_hub.audit.chain.mac`` as of this revision."""
    return hmac.new(key, f"{seq}\n{hash}".encode(), hashlib.sha256).hexdigest()


def _pads(key: bytes) -> tuple[bytes, bytes]:
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _backfill_postgres(bind: sa.Connection, key: bytes, last: int) -> None:
    inner, outer = _pads(key)
    guard = UPDATE_GUARD["postgresql"]
    # DDL is transactional: an error rolls the migration back, the trigger enabled again.
    bind.execute(sa.text(f"ALTER TABLE audit_log DISABLE TRIGGER {guard}"))
    for lo in range(0, last, CHUNK):
        bind.execute(PG_BACKFILL, {"inner": inner, "outer": outer, "lo": lo, "hi": lo + CHUNK})
    bind.execute(sa.text(f"ALTER TABLE audit_log ENABLE TRIGGER {guard}"))
    (sample,) = bind.execute(sa.text("SELECT seq, hash, mac FROM audit_log LIMIT 1")).all()
    assert sample.mac == mac(key, sample.seq, sample.hash), "SQL and Python MACs differ"


def _backfill_sqlite(bind: sa.Connection, key: bytes) -> None:
    guard = UPDATE_GUARD["sqlite"]
    find = sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name")
    definition = bind.scalar(find, {"name": guard})
    assert definition, f"trigger {guard} is missing"
    bind.execute(sa.text(f"DROP TRIGGER {guard}"))
    try:
        after = 0
        while True:
            rows = bind.execute(
                sa.text("SELECT seq, hash FROM audit_log WHERE seq > :after ORDER BY seq LIMIT :n"),
                {"after": after, "n": CHUNK},
            ).all()
            if not rows:
                break
            bind.execute(
                sa.text("UPDATE audit_log SET mac = :mac WHERE seq = :seq"),
                [{"seq": r.seq, "mac": mac(key, r.seq, r.hash)} for r in rows],
            )
            after = rows[-1].seq
    finally:
        if bind.scalar(find, {"name": guard}) is None:
            bind.execute(sa.text(definition))
