"""Key rotation: re-encrypt every stored ID number and re-hash every person key under a new key
version, in batches that each commit, resumably.

1. ``keys rotate`` adds a key version to the key file (running hubs pick it up within seconds
   and seal new values under it) and records a rotation to it (``privacy_key_rotation``).
2. The dataset tables are rewritten batch by batch in ``id`` order; the state row keeps the
   table and the last id done, so a stopped rotation resumes where it stopped. Each batch also
   notes old person key → new in ``privacy_person_key_map``.
3. A sweep repeats the pass until no row is left under another version (a hub that had not yet
   seen the new version may have written some meanwhile).
4. Values sealed with the ID keys outside the dataset tables (``SEALED``: a 12310 report's
   facts and its reporter's contact, the stored answers of idempotent requests) are opened and
   sealed again under the new version, batch by batch (what is left is what is not yet under
   it, so this too resumes where it stopped).
5. Tables that hold person keys without an ID number (``PERSON_KEY_DEPENDANTS``, e.g. findings)
   are re-keyed through the map in one statement each; the map is emptied; the rotation ends.

While a rotation runs, lookups match the person key of every version (see ``Keyring.person_keys``)
but joins across tables may see two versions of one person: jobs that join persons across
datasets (reconciliation) should refuse to start while
:func:`linkage_hub.privacy.state.rotation_in_progress`. The audit log
is never rewritten: its entries keep the person keys of their time, and its person filter tries
every version the key set still holds (so keep old versions in the key set).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, func, inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from linkage_hub.ciphers import CipherError, VersionCipher, version_of
from linkage_hub.db import Database
from linkage_hub.domain import PERSON_DATASETS
from linkage_hub.keys import Keyring, KeySet, KeySetError, configured_key_set, id_key_path
from linkage_hub.privacy.models import IdKeyFingerprint, KeyRotation, PersonKeyMap
from linkage_hub.privacy.state import pending_rotation
from linkage_hub.records.datasets import spec_for
from linkage_hub.settings import Settings

PERSON_TABLES: tuple[Table, ...] = tuple(spec_for(d).table for d in sorted(PERSON_DATASETS))


@dataclass(frozen=True, slots=True)
class Dependant:
    """A table holding person keys without ID numbers: ``column`` is re-keyed through the map,
    and each ``derived`` column set to its SQL expression, in which ``{key}`` is the new key."""

    table: str
    column: str
    derived: tuple[tuple[str, str], ...] = ()


# The tables holding person keys outside the dataset tables, re-keyed through the map at
# the end. Named here rather than registered by each room when it is imported: `keys rotate`
# never imports the reconciliation room, and a dependant left out keeps old keys for good (the
# next run would resolve its findings and open them again under new ids). The audit log is not
# one: it is never rewritten. tests/privacy/test_rotation_command.py checks that every table
# with a ``person_key`` column is a dataset, the audit log, or named here.
PERSON_KEY_DEPENDANTS: tuple[Dependant, ...] = (
    # a person finding's identity is its rule plus the person key: the run matches on it
    Dependant("reconciliation_finding", "person_key", (("identity", "rule || ':' || {key}"),)),
)


@dataclass(frozen=True, slots=True)
class Sealed:
    """A table whose ``columns`` hold values sealed with the ID keys (each may be null), its
    rows named by ``key``."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]

    def not_at(self, version: int) -> Any:
        """Rows holding a value under another version than ``version`` (SQL)."""
        prefix = f"v{version}:%"
        return text(
            " OR ".join(f"({c} IS NOT NULL AND {c} NOT LIKE '{prefix}')" for c in self.columns)
        )


# Named here for the same reason as the dependants. tests/privacy/test_rotation_command.py
# checks that every value the hub seals with ``seal_id`` and stores is in a table named here.
SEALED: tuple[Sealed, ...] = (
    Sealed("case_report", ("number",), ("facts", "contact")),
    Sealed("idempotent_answer", ("scope", "route", "key_hash"), ("body",)),
)
MAX_SWEEPS = 5

Progress = Callable[[int, int], None]


def rows_not_at(session: Session, version: int) -> int:
    """Dataset rows and :data:`SEALED` rows holding a value under another version."""
    prefix = f"v{version}:%"
    return sum(
        session.scalar(select(func.count()).select_from(t).where(t.c.id_number.not_like(prefix)))
        or 0
        for t in PERSON_TABLES
    ) + sum(
        session.scalar(text(f"SELECT count(*) FROM {s.table} WHERE {s.not_at(version)}")) or 0
        for s in SEALED
    )


def rows_by_version(session: Session, versions: list[int]) -> dict[str, int]:
    """How many stored values each key version seals (``plain``: none): a dataset row's ID
    number, and each non-null value of a :data:`SEALED` column."""
    values = [(t.name, "id_number") for t in PERSON_TABLES]
    values += [(s.table, c) for s in SEALED for c in s.columns]

    def count(condition: str) -> int:
        return sum(
            session.scalar(text(f"SELECT count(*) FROM {table} WHERE {c} {condition}")) or 0
            for table, c in values
        )

    counts = {f"v{v}": count(f"LIKE 'v{v}:%'") for v in versions}
    counts["plain"] = count("NOT LIKE 'v%'")
    return counts


def stored_samples(session: Session) -> list[str]:
    """The first and last stored value of each table holding values sealed with the ID keys (by
    primary key): the person tables' ID numbers and the :data:`SEALED` columns. Enough to tell
    whether a key set opens what is stored, the oldest rows and the newest, in two indexed reads
    a table (the hub does it at every start). A table the schema lacks yet holds nothing."""
    present = set(inspect(session.connection()).get_table_names())
    out: list[str] = []
    for t in PERSON_TABLES:
        if t.name in present:
            for order in (t.c.id.asc(), t.c.id.desc()):
                value = session.scalar(select(t.c.id_number).order_by(order).limit(1))
                if value is not None:
                    out.append(value)
    for s in SEALED:
        if s.table in present:
            for direction in ("ASC", "DESC"):
                by = ", ".join(f"{k} {direction}" for k in s.key)
                row = session.execute(
                    text(f"SELECT {', '.join(s.columns)} FROM {s.table} ORDER BY {by} LIMIT 1")
                ).first()
                out += [value for value in row or () if value is not None]
    return out


def check_key_set(db: Database, settings: Settings) -> None:
    """Refuse (:class:`KeySetError`, naming the settings) an ID key set that does not open the
    values the database holds sealed, or that another key set's fingerprint is recorded against
    (:func:`record_key_set`), or its absence; nothing is written, no key set generated.

    The hub's start and every command that seals call it. Without it a process started without
    its key set (a second replica or a container without its volume: the key file is generated
    beside the database; a mistyped ``LINKAGE_ID_KEY_FILE``) generated a fresh one, numbered v1
    like the real one, and served: every stored ID number answered 500, and new ones were sealed
    and person keys hashed under a key no other process has. A database holding nothing sealed
    and no recorded fingerprint passes: its first process generates the key set."""
    with db.read_sessions() as session:
        samples = [s for s in stored_samples(session) if not _plain(s)]
        recorded = _recorded(session)
    if not samples and not recorded:  # nothing sealed (values stored before encryption need no key)
        return
    keys = configured_key_set(settings)
    if keys is None:
        holds = "sealed ID numbers" if samples else "the fingerprint of its ID key set"
        raise KeySetError(
            f"no ID key file at {id_key_path(settings)}, yet the database holds {holds}: set "
            "LINKAGE_ID_KEY_FILE (or LINKAGE_ID_KEYS) to the key set they were sealed with"
        )
    ciphers = {v: VersionCipher(k) for v, k in keys.versions.items()}
    for stored in samples:
        try:
            ciphers[version_of(stored)].open(stored)
        except (KeyError, CipherError):
            named = stored.split(":", 1)[0].removeprefix("v")
            raise KeySetError(
                f"the ID key set does not open the stored ID numbers (key version {named}): "
                "check LINKAGE_ID_KEY_FILE or LINKAGE_ID_KEYS"
            ) from None
    _compare(recorded, keys)


ID_KEY_LOCK = 0x4C48_494C  # "LHIL": processes record their key sets one at a time


def record_key_set(db: Database, keys: KeySet) -> None:
    """Record the fingerprints of ``keys`` (:meth:`KeySet.fingerprints`) that the database does
    not hold yet, or refuse (:class:`KeySetError`) a key set that disagrees with what it holds;
    called when a process makes its keyring, after :func:`check_key_set` and before it seals.

    :func:`check_key_set` passes a database that holds nothing sealed, so two processes started
    together on a new database (two replicas, two workers, each with its own volume) could each
    generate a key set and seal under it: ID numbers the other cannot open (500s) and person
    keys that never join (one person twice). Under one lock (PostgreSQL: an advisory lock;
    SQLite: the write lock) the first records its set; the next must agree with it: every
    version both hold has the same fingerprint, and they share one (a set whose versions are
    all unknown is another one). Versions the database lacks (a key set rotated since) are
    added, so a process with a stale key set refuses only over a version both hold.

    A key set the database holds already (every start but the first) is checked by a read
    alone: no write lock, so a process's first request does not wait for a writer in flight
    (on SQLite it got a 503 past the busy timeout)."""
    fingerprints = keys.fingerprints()
    with db.read_sessions() as session:
        held = _recorded(session)
    if held and fingerprints.keys() <= held.keys():
        _compare(held, keys)
        return
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ID_KEY_LOCK})
        recorded = _recorded(session)
        _compare(recorded, keys)
        now = dt.datetime.now(dt.UTC)
        session.add_all(
            IdKeyFingerprint(version=v, fingerprint=fp, recorded_at=now)
            for v, fp in sorted(fingerprints.items())
            if v not in recorded
        )


def _recorded(session: Session) -> dict[int, str]:
    """The recorded fingerprints by version; none before the migration that makes the table
    (``migrate`` checks the key set before it upgrades)."""
    if not inspect(session.connection()).has_table(IdKeyFingerprint.__tablename__):
        return {}
    rows = session.execute(select(IdKeyFingerprint.version, IdKeyFingerprint.fingerprint))
    return {version: fingerprint for version, fingerprint in rows}


def _compare(recorded: dict[int, str], keys: KeySet) -> None:
    if not recorded:
        return
    mine = keys.fingerprints()
    for version in sorted(recorded.keys() & mine.keys()):
        if recorded[version] != mine[version]:
            raise KeySetError(
                f"the ID key set is not the one this database seals under (key version "
                f"{version}): check LINKAGE_ID_KEY_FILE or LINKAGE_ID_KEYS"
            )
    if not recorded.keys() & mine.keys():
        versions = ", ".join(f"v{v}" for v in sorted(recorded))
        raise KeySetError(
            f"the ID key set holds none of the key versions this database seals under "
            f"({versions}): check LINKAGE_ID_KEY_FILE or LINKAGE_ID_KEYS"
        )


def _plain(stored: str) -> bool:
    """A value stored before encryption (key version 0), which ``keys rotate`` seals."""
    try:
        return version_of(stored) == 0
    except CipherError:
        return False  # malformed: let the check refuse it


def cancel_unstarted(db: Database, rotation_id: int) -> bool:
    """Remove an unfinished rotation that has rewritten no row (none is sealed under its
    target version, the key map is empty): whether it was removed. One whose target version
    the key set lacks can never finish; if it wrote nothing, nothing is lost by dropping it."""
    with db.transaction() as session:
        pending = session.get(KeyRotation, rotation_id, with_for_update=True)
        if pending is None or pending.finished_at is not None:
            return False
        prefix = f"v{pending.target_version}:%"
        written = any(
            session.scalar(select(t.c.id).where(t.c.id_number.like(prefix)).limit(1)) is not None
            for t in PERSON_TABLES
        ) or any(
            session.scalar(text(f"SELECT 1 FROM {s.table} WHERE {c} LIKE '{prefix}' LIMIT 1"))
            is not None
            for s in SEALED
            for c in s.columns
        )
        if written or session.scalar(select(PersonKeyMap.old_key).limit(1)) is not None:
            return False
        session.delete(pending)
        return True


def start(db: Database, target_version: int) -> int:
    """The id of the unfinished rotation, or of a new one to ``target_version``."""
    with db.transaction() as session:
        pending = pending_rotation(session)
        if pending is not None:
            return pending.id
        rotation = KeyRotation(
            target_version=target_version,
            started_at=dt.datetime.now(dt.UTC),
            table_name=PERSON_TABLES[0].name,
            after_id=0,
            rows_done=0,
        )
        session.add(rotation)
        session.flush()
        return rotation.id


@dataclass(frozen=True, slots=True)
class RotationResult:
    target_version: int
    rows_rewritten: int
    sweeps: int


def _map_insert(session: Session, pairs: dict[str, str]) -> None:
    if not pairs:
        return
    rows = [{"old_key": o, "new_key": n} for o, n in pairs.items() if o != n]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    maker: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(maker(PersonKeyMap).on_conflict_do_nothing(), rows)


def _batch(
    session: Session, keyring: Keyring, table: Table, target: int, after: int, size: int
) -> tuple[int | None, int]:
    """Rewrite one batch after ``after``: (last id seen or None at the end, rows rewritten)."""
    rows = session.execute(
        select(table.c.id, table.c.id_number, table.c.id_number_given, table.c.person_key)
        .where(table.c.id > after)
        .order_by(table.c.id)
        .limit(size)
    ).all()
    if not rows:
        return None, 0
    cipher = keyring.cipher(target)
    changes: list[dict[str, Any]] = []
    pairs: dict[str, str] = {}
    for row in rows:
        if version_of(row.id_number) == target:
            continue
        number = keyring.reveal_id(row.id_number)
        given = row.id_number_given
        person_key = cipher.person_key(number)
        changes.append(
            {
                "row_id": row.id,
                "sealed": cipher.seal(number),
                "sealed_given": cipher.seal(keyring.reveal_id(given)) if given else None,
                "new_key": person_key,
            }
        )
        pairs[row.person_key] = person_key
    if changes:
        session.execute(
            update(table)
            .where(table.c.id == text(":row_id"))
            .values(
                id_number=text(":sealed"),
                id_number_given=text(":sealed_given"),
                person_key=text(":new_key"),
            ),
            changes,
            execution_options={"synchronize_session": False},
        )
        _map_insert(session, pairs)
    return rows[-1].id, len(changes)


def _reseal(session: Session, keyring: Keyring, sealed: Sealed, target: int, size: int) -> int:
    """Seal up to ``size`` rows of ``sealed`` again under ``target``: the rows done (0 at the
    end)."""
    names = sealed.key + sealed.columns
    rows = session.execute(
        text(
            f"SELECT {', '.join(names)} FROM {sealed.table} WHERE {sealed.not_at(target)} "
            f"ORDER BY {', '.join(sealed.key)} LIMIT :size"
        ),
        {"size": size},
    ).all()
    if not rows:
        return 0
    cipher = keyring.cipher(target)

    def again(value: str | None) -> str | None:
        if value is None or version_of(value) == target:
            return value
        return cipher.seal(keyring.reveal_id(value))

    changes = [
        {
            **{f"k_{k}": v for k, v in zip(sealed.key, row[: len(sealed.key)], strict=True)},
            **{
                f"c_{c}": again(v)
                for c, v in zip(sealed.columns, row[len(sealed.key) :], strict=True)
            },
        }
        for row in rows
    ]
    session.execute(
        text(
            f"UPDATE {sealed.table} SET {', '.join(f'{c} = :c_{c}' for c in sealed.columns)} "
            f"WHERE {' AND '.join(f'{k} = :k_{k}' for k in sealed.key)}"
        ),
        changes,
    )
    return len(rows)


def _rekey(session: Session, dependant: Dependant) -> None:
    table, column = dependant.table, dependant.column
    # SET expressions read the row as it was, so each sees the old key
    key = f"(SELECT m.new_key FROM privacy_person_key_map AS m WHERE m.old_key = {table}.{column})"
    sets = [f"{column} = {key}"]
    sets += [f"{name} = {expression.format(key=key)}" for name, expression in dependant.derived]
    session.execute(
        text(
            f"UPDATE {table} SET {', '.join(sets)} "
            f"WHERE {column} IN (SELECT old_key FROM privacy_person_key_map)"
        )
    )


def run(
    db: Database, keyring: Keyring, rotation_id: int, *, batch_size: int, progress: Progress
) -> RotationResult:
    """Carry the rotation to its end from where its state row says it is."""
    names = [t.name for t in PERSON_TABLES]
    by_name = {t.name: t for t in PERSON_TABLES}
    with db.read_sessions() as session:
        rotation = session.get(KeyRotation, rotation_id)
        assert rotation is not None
        target = rotation.target_version
        total = rows_not_at(session, target) + rotation.rows_done
    keyring.cipher(target)  # fails early if the key set lacks the version
    sweeps = 0
    while True:
        while True:
            with db.transaction() as session:
                state = session.get(KeyRotation, rotation_id, with_for_update=True)
                assert state is not None
                if state.table_name is None:
                    break
                last, done = _batch(
                    session,
                    keyring,
                    by_name[state.table_name],
                    target,
                    state.after_id,
                    batch_size,
                )
                if last is None:
                    index = names.index(state.table_name) + 1
                    state.table_name = names[index] if index < len(names) else None
                    state.after_id = 0
                else:
                    state.after_id = last
                    state.rows_done += done
                rows_done = state.rows_done
            progress(rows_done, max(total, rows_done))
        for sealed in SEALED:
            done = 1
            while done:
                with db.transaction() as session:
                    done = _reseal(session, keyring, sealed, target, batch_size)
                    state = session.get(KeyRotation, rotation_id, with_for_update=True)
                    assert state is not None
                    state.rows_done += done
                    rows_done = state.rows_done
                progress(rows_done, max(total, rows_done))
        with db.transaction() as session:
            state = session.get(KeyRotation, rotation_id, with_for_update=True)
            assert state is not None
            left = rows_not_at(session, target)
            if left and sweeps < MAX_SWEEPS:
                sweeps += 1  # written meanwhile by a hub that had not seen the new version
                total += left
                state.table_name, state.after_id = names[0], 0
                continue
            if left:
                raise RuntimeError(
                    f"{left} rows are still written under an old key version: restart the "
                    "hub processes that have not picked up the new key, then run again"
                )
            for dependant in PERSON_KEY_DEPENDANTS:
                _rekey(session, dependant)
            session.execute(delete(PersonKeyMap))
            state.finished_at = dt.datetime.now(dt.UTC)
            return RotationResult(target, state.rows_done, sweeps)
