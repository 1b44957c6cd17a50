"""Head counts per unit, kept by difference in ``records_unit_count`` as each batch commits.

OVER_QUOTA compares a unit's active roster (by establishment type) with its quota, and
OVER_LEADER_POSTS its active cadres (by leader level) with its leader posts. A full
reconciliation counts them from the records; an incremental one must count only the units a
batch touched — and a 1 % roster batch that flips statuses touches nearly every unit, so
counting them again from the records was a recount of the whole roster (0.4 s on PostgreSQL,
1.0 s on SQLite at a million persons). Instead each batch, in its own transaction, adds what
it changed to a stored count: +1 for each counted version it created, −1 for each it closed,
per (dataset, unit, the record's region, category). The count of any set of units in any
region is then a sum over a few stored rows, always exactly the records' (the same
transaction writes both); rows that fall to 0 stay (one per unit, region and category ever
counted) and are read as absent.

Every write of a roster or cadre version goes through a batch, and every batch publishes its
changes (:func:`linkage_hub.records.publish.publish_changes`), which calls :func:`apply`: the
batch's versions are those its feed rows name, and the versions its new ones replaced (the
version before an ``upsert``). Which of them count is decided on the version itself (created
by the batch: +1; closed by it: −1), so a record moved with its unit — a ``close`` of the old
version and an ``upsert`` of the new, both in the feed — is not counted twice.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from linkage_hub.db import FEED_LOCK

# dataset: (version table, the column counted by, which current versions count)
COUNTED = {
    "roster": ("records_roster", "establishment_type", "status = 'active'"),
    "cadres": ("records_cadre", "leader_level", "status = 'active'"),
}

_UPSERT = (
    "INSERT INTO records_unit_count (dataset, unit_code, region, category, n) {select} "
    "ON CONFLICT (dataset, unit_code, region, category) "
    "DO UPDATE SET n = records_unit_count.n + excluded.n"
)


def apply(session: Session, *, batch_id: str, after_seq: int) -> None:
    """Add the changes of ``batch_id``, whose feed rows are those after ``after_seq``."""
    for dataset, (table, column, counts) in COUNTED.items():
        versions = (
            "SELECT record_key, version FROM records_change "
            "WHERE seq > :after AND dataset = :ds "
            "UNION SELECT record_key, version - 1 FROM records_change "
            "WHERE seq > :after AND dataset = :ds AND op = 'upsert' AND version > 1"
        )
        delta = (
            "CASE WHEN t.batch_id = :b THEN 1 ELSE 0 END "
            "- CASE WHEN t.closed_batch_id = :b THEN 1 ELSE 0 END"
        )
        select = (
            f"SELECT :ds, t.unit_code, t.region, t.{column}, SUM({delta}) "
            f"FROM ({versions}) k JOIN {table} t "
            f"ON t.record_key = k.record_key AND t.version = k.version "
            f"WHERE t.{counts} GROUP BY t.unit_code, t.region, t.{column} HAVING SUM({delta}) <> 0"
        )
        session.execute(
            text(_UPSERT.format(select=select)), {"ds": dataset, "b": batch_id, "after": after_seq}
        )


def count_loaded(session: Session, dataset: str) -> None:
    """After the first batch into a version table that held no version: its counts, straight
    from the table (one pass instead of a look-up per new version)."""
    table, column, counts = COUNTED[dataset]
    session.execute(
        text(
            _UPSERT.format(
                select=f"SELECT :ds, unit_code, region, {column}, COUNT(*) FROM {table} "
                f"WHERE closed_at IS NULL AND {counts} GROUP BY unit_code, region, {column}"
            )
        ),
        {"ds": dataset},
    )


def recount(session: Session) -> None:
    """Count every unit again from the records: after records were copied past the hub (the
    benchmarks' direct loads), or as a repair. Runs in the caller's transaction."""
    session.execute(text("DELETE FROM records_unit_count"))
    for dataset in COUNTED:
        count_loaded(session, dataset)


def drift(session: Session) -> int:
    """How many (dataset, unit, region, category) counts differ from a count of the records:
    0 unless something changed the version tables past the hub's batches (a restore, a hand
    edit). Incremental runs would then misjudge OVER_QUOTA / OVER_LEADER_POSTS at those units
    until :func:`recount`. One pass over each counted table."""
    recounted = " UNION ALL ".join(
        f"SELECT '{dataset}' AS dataset, unit_code, region, {column} AS category, "
        f"-COUNT(*) AS n FROM {table} WHERE closed_at IS NULL AND {counts} "
        f"GROUP BY unit_code, region, {column}"
        for dataset, (table, column, counts) in COUNTED.items()
    )
    return int(
        session.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT dataset, unit_code, region, category FROM ("
                "SELECT dataset, unit_code, region, category, n FROM records_unit_count "
                f"UNION ALL {recounted}) d GROUP BY dataset, unit_code, region, category "
                "HAVING SUM(n) <> 0) x"
            )
        ).scalar_one()
    )


def repair(session: Session) -> None:
    """:func:`recount`, with batches held off until the caller commits (the feed's lock on
    PostgreSQL; SQLite has one writer at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK})
    recount(session)
