"""Review: a leaked retired audit key rewrites every entry since the rotation, relabelled under
the old version, and verify without an anchor passes (README, "the audit log"). Strict xfail: it
turns into a failure the day something pins where a version began."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from linkage_hub.audit.chain import mac
from linkage_hub.audit.models import AuditEntry
from linkage_hub.audit.service import verify
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.audit.test_audit_key_rotation import rotate, write
from tests.audit.test_audit_log import rehash, tamper


@pytest.mark.xfail(
    strict=True, reason="known: only an anchor taken after the rotation shows it (README)"
)
def test_a_leaked_old_key_cannot_rewrite_the_whole_tail_since_the_rotation(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(database, 1)
    old = database.audit_keys().versions[1]
    assert rotate(settings, monkeypatch) == 0
    database.audit_keyring.reload()
    first, _second = write(database, 2)  # both under version 2
    # the attacker (old key + database) alters the first entry of version 2, rehashes the
    # chain from it, and re-MACs every entry from it on under version 1: no version goes back
    rehash(database, f"UPDATE audit_log SET actor = 'someone' WHERE seq = {first}", first)
    with database.read_sessions() as session:
        rows = session.execute(
            select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq >= first)
        ).all()
    for seq, digest in rows:
        tamper(
            database,
            f"UPDATE audit_log SET key_version = 1, mac = '{mac(old, seq, digest)}' "
            f"WHERE seq = {seq}",
        )
    with database.read_sessions() as session:
        result = verify(session, key_set=database.audit_keys())
    assert not result.ok, "the tail since the rotation was rewritten under the retired key"
