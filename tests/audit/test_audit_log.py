"""The audit log: what is appended, how auditors filter it, and that the chain shows tampering."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from linkage_hub.audit.chain import canonical, link
from linkage_hub.audit.models import AuditEntry, AuditPerson, AuditPersonRegion, AuditRegion
from linkage_hub.audit.service import verify
from linkage_hub.auth.service import revoke_client
from linkage_hub.cli import main
from linkage_hub.db import Database
from linkage_hub.keys import AuditKeySet
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

LOG = "/api/v1/audit-log"


@pytest.fixture
def entries(client: TestClient, app: FastAPI, headers_for: HeadersFor) -> Callable[..., Any]:
    """The audit log as audit of 230000 sees it (after flushing buffered read entries)."""

    def get(**params: Any) -> list[dict[str, Any]]:
        app.state.auth.recorder.flush()
        response = client.get(
            LOG, params={"limit": 1000, **params}, headers=headers_for("audit", "230000")
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    return get


def tamper(database: Database, statement: str) -> None:
    """Change the log behind the hub's back: with the guarding triggers switched off."""
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(statement))
        else:
            triggers = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name "
                    "LIKE 'audit_log%'"
                )
            ).all()
            for name, _ in triggers:
                conn.execute(text(f"DROP TRIGGER {name}"))
            conn.execute(text(statement))
            for _, sql in triggers:
                conn.execute(text(sql))


def rehash(database: Database, statement: str, since: int) -> None:
    """Alter the log as an attacker with the database but without the audit key would: make
    the change, then recompute with plain SHA-256 the hash of every entry from ``since`` on
    and each next entry's prev_hash, so that the chain is whole again."""
    tamper(database, statement)
    with database.read_sessions() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        keys = session.execute(select(AuditPerson.seq, AuditPerson.person_key)).all()
        persons = session.execute(
            select(AuditPersonRegion.seq, AuditPersonRegion.person_key, AuditPersonRegion.region)
        ).all()
        regions = session.execute(select(AuditRegion.seq, AuditRegion.region)).all()
    updates = []
    prev = next(e.prev_hash for e in rows if e.seq == since)
    for e in rows:
        if e.seq < since:
            continue
        body = canonical(
            seq=e.seq,
            recorded_at=e.recorded_at,
            action=e.action,
            actor=e.actor,
            department=e.department,
            region=e.region,
            target_type=e.target_type,
            target_id=e.target_id,
            detail=e.detail,
            request_id=e.request_id,
            person_keys={k for s, k in keys if s == e.seq}
            | {k for s, k, _ in persons if s == e.seq},
            client_request_id=e.client_request_id,
            regions=[r for s, r in regions if s == e.seq],
            person_regions=[(k, r) for s, k, r in persons if s == e.seq],
        )
        digest = link(prev, body)
        updates.append(
            f"UPDATE audit_log SET prev_hash = '{prev}', hash = '{digest}' WHERE seq = {e.seq}"
        )
        prev = digest
    for update in updates:
        tamper(database, update)


class TestWhatIsAppended:
    def test_writes_and_reads_each_make_an_entry(
        self,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        client_id_for: Callable[..., str],
        entries: Callable[..., Any],
    ) -> None:
        assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
        owner = headers_for("establishment")
        listed = client.get("/api/v1/datasets/roster/records", headers=owner).json()["items"]
        key = listed[0]["record_key"]
        got = client.get(f"/api/v1/datasets/roster/records/{key}", headers=owner)
        replaced = client.put(
            f"/api/v1/datasets/roster/records/{key}",
            json=f.roster(1, name="李四") | {"id_number": listed[0]["id_number"]},
            headers=owner | {"If-Match": got.headers["etag"]},
        )
        assert replaced.status_code == 200, replaced.text
        deleted = client.delete(
            f"/api/v1/datasets/roster/records/{key}",
            headers=owner | {"If-Match": replaced.headers["etag"]},
        )
        assert deleted.status_code == 204
        person = client.get(f"/api/v1/persons/{f.id_number(2)}", headers=headers_for("hr"))
        assert person.status_code == 200

        log = entries()
        assert [e["action"] for e in log].count("client.create") >= 2
        establishment = client_id_for("establishment")
        mine = [e for e in log if e["actor"] == establishment]
        # Reads are buffered with the access record and appended at its flush: after the
        # writes of the same moment in the chain, with the time of the request.
        writes = [e for e in mine if e["action"] != "read"]
        assert [e["action"] for e in writes] == ["batch.push", "record.replace", "record.delete"]
        assert writes[0]["detail"]["inserted"] == 2 and writes[0]["region"] == "230100"
        assert writes[1]["target_id"] == f"roster/{key}" and writes[1]["persons"] == 1
        reads = sorted(
            (e["target_id"], e["detail"]["person_records"], e["persons"])
            for e in mine
            if e["action"] == "read"
        )
        assert reads == [
            ("GET /api/v1/datasets/{dataset}/records", 2, 2),
            ("GET /api/v1/datasets/{dataset}/records/{record_key}", 1, 1),
            ("PUT /api/v1/datasets/{dataset}/records/{record_key}", 1, 1),
        ]
        by_hr = [e for e in log if e["actor"] == client_id_for("hr")]
        assert [(e["action"], e["target_id"]) for e in by_hr] == [
            ("read", "GET /api/v1/persons/{id_number}")
        ]
        # one chain: each entry covers the one before
        assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(log))

    def test_failed_reads_and_dry_runs_make_none(
        self, push: Push, client: TestClient, headers_for: HeadersFor, entries: Callable[..., Any]
    ) -> None:
        headers_for("establishment"), headers_for("hr")  # their clients' entries come first
        before = len(entries())
        assert push("roster", [f.roster(1)], params={"dry_run": "true"}).status_code == 200
        assert push("roster", [f.roster(1, status="x")]).status_code == 422
        missing = client.get(f"/api/v1/persons/{f.id_number(5)}", headers=headers_for("hr"))
        assert missing.status_code == 404
        after = entries()
        assert after[before:] == []

    def test_client_changes_from_the_command_line(
        self, database: Database, client_id_for: Callable[..., str], entries: Callable[..., Any]
    ) -> None:
        client_id = client_id_for("finance")
        with database.transaction() as session:
            revoke_client(session, client_id)
        changes = [e for e in entries(client_id=client_id) if e["target_type"] == "client"]
        assert [e["action"] for e in changes] == ["client.create", "client.revoke"]
        assert changes[1]["actor"].startswith("cli")
        assert "secret" not in str(changes[1]["detail"]).replace("secret_", "")


class TestFilters:
    def test_by_person_department_client_and_time(
        self,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        client_id_for: Callable[..., str],
        entries: Callable[..., Any],
    ) -> None:
        assert push("roster", [f.roster(1)]).status_code == 201
        assert push("roster", [f.roster(2)]).status_code == 201
        assert push("payroll", [f.payroll(2)], params=None).status_code in (201, 422)
        client.get(f"/api/v1/persons/{f.id_number(1)}", headers=headers_for("hr"))
        everything = entries()

        one = entries(id_number=f.id_number(1).lower())
        assert [e["action"] for e in one] == ["batch.push", "read"]
        assert one[0]["detail"]["inserted"] == 1
        assert one[0]["seq"] == min(e["seq"] for e in everything if e["action"] == "batch.push")

        by_hr = entries(department="hr")
        assert by_hr and all(e["department"] == "hr" for e in by_hr)
        assert {e["actor"] for e in entries(client_id=client_id_for("hr"))} <= {
            client_id_for("hr"),
            *(e["actor"] for e in everything if e["action"] == "client.create"),
        }
        middle = everything[len(everything) // 2]["recorded_at"]
        later = entries(**{"from": middle})
        assert later and all(e["recorded_at"] >= middle for e in later)
        assert all(e["recorded_at"] < middle for e in entries(to=middle))

    def test_other_regions_and_departments_see_nothing(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        push("roster", [f.roster(1)])
        other = client.get(LOG, headers=headers_for("audit", "230200")).json()["items"]
        assert all(e["region"].startswith("2302") for e in other)
        assert client.get(LOG, headers=headers_for("establishment")).status_code == 403
        # Long enough that the problem's random request id cannot hold it by chance.
        wrong = "1230456078"
        bad = client.get(LOG, params={"id_number": wrong}, headers=headers_for("audit"))
        assert bad.status_code == 422 and wrong not in bad.text


class TestChain:
    def test_rows_refuse_updates_and_deletes(
        self,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        entries: Callable[..., Any],
    ) -> None:
        assert push("roster", [f.roster(1)]).status_code == 201
        client.get(f"/api/v1/persons/{f.id_number(1)}", headers=headers_for("hr"))
        assert any(e["persons"] for e in entries())  # audit_log_person_region has a row
        for statement in (
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
            "DELETE FROM audit_log_person_region",
            "UPDATE audit_log_person_region SET region = '230199'",
        ):
            with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as c:
                c.execute(text(statement))
        if database.dialect == "postgresql":
            with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as c:
                c.execute(text("TRUNCATE audit_log"))
        with database.read_sessions() as session:
            assert verify(session, key_set=database.audit_keys()).ok

    @pytest.mark.parametrize(
        ("statement", "reason"),
        [
            ("UPDATE audit_log SET detail = NULL WHERE seq = {seq}", "altered"),
            ("DELETE FROM audit_log WHERE seq = {seq}", "missing"),
            ("DELETE FROM audit_log_person_region WHERE seq = {seq}", "altered"),
            ("UPDATE audit_log_person_region SET region = '230199' WHERE seq = {seq}", "altered"),
            (
                "UPDATE audit_log SET hash = 'x', prev_hash = 'y' WHERE seq = {seq}",
                "prev_hash",
            ),
            ("UPDATE audit_log SET mac = NULL WHERE seq = {seq}", "it has no mac"),
            (f"UPDATE audit_log SET mac = '{'0' * 64}' WHERE seq = {{seq}}", "mac does not"),
        ],
    )
    def test_verify_names_the_first_broken_entry(
        self,
        statement: str,
        reason: str,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        settings: Settings,
        entries: Callable[..., Any],
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        push("roster", [f.roster(1), f.roster(2)])
        client.get(f"/api/v1/persons/{f.id_number(1)}", headers=headers_for("hr"))
        log = entries()
        target = next(e["seq"] for e in log if e["action"] == "read" and e["persons"])
        verified = client.get(f"{LOG}/verify", headers=headers_for("audit", "230000")).json()
        assert verified["ok"] and verified["entries"] == len(log) == verified["head"]["count"]

        tamper(database, statement.format(seq=target))
        broken = client.get(f"{LOG}/verify", headers=headers_for("audit", "230000")).json()
        assert not broken["ok"]
        expected = target + 1 if reason in ("missing", "prev_hash") else target
        if "hash = 'x'" in statement:
            expected = target  # its own prev_hash no longer links
        assert broken["first_broken_seq"] == expected
        assert reason in broken["reason"]

        monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: settings)
        assert main(["audit-log", "verify"]) == 1
        assert f"entry {expected}" in capsys.readouterr().err

    def test_head_and_anchor(
        self,
        push: Push,
        database: Database,
        settings: Settings,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        import json

        push("roster", [f.roster(1)])
        monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: settings)
        assert main(["audit-log", "head"]) == 0
        head = json.loads(capsys.readouterr().out)
        assert head["count"] == head["seq"] >= 2 and len(head["hash"]) == 64
        assert main(["audit-log", "verify", "--anchor", head["hash"]]) == 0
        capsys.readouterr()
        tamper(database, f"DELETE FROM audit_log WHERE seq = {head['seq']}")
        assert main(["audit-log", "verify"]) == 0  # a shorter chain is still a chain...
        assert main(["audit-log", "verify", "--anchor", head["hash"]]) == 1  # ...but not ours
        assert "anchored hash" in capsys.readouterr().err

    def test_entries_rehashed_without_the_key_fail_their_mac(
        self,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        settings: Settings,
        entries: Callable[..., Any],
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Someone who can write the database (the triggers switched off) alters an entry and
        recomputes its hash and every later one: the chain is whole again, and only the
        entry's MAC, which needs the audit key, shows it."""
        push("roster", [f.roster(1), f.roster(2)])
        client.get(f"/api/v1/persons/{f.id_number(1)}", headers=headers_for("hr"))
        log = entries()
        target = next(e["seq"] for e in log if e["action"] == "batch.push")
        assert target < log[-1]["seq"]  # later entries to rehash too

        rehash(database, f"UPDATE audit_log SET detail = NULL WHERE seq = {target}", target)
        broken = client.get(f"{LOG}/verify", headers=headers_for("audit", "230000")).json()
        assert not broken["ok"]
        assert broken["first_broken_seq"] == target
        assert "mac does not match" in broken["reason"]
        assert "without the audit key" in broken["reason"]

        monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: settings)
        assert main(["audit-log", "verify"]) == 1
        assert f"entry {target}: its mac does not match" in capsys.readouterr().err

    def test_a_fresh_hub_verifies_under_its_key_alone(
        self,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        settings: Settings,
        entries: Callable[..., Any],
    ) -> None:
        push("roster", [f.roster(1)])
        log = entries()
        verified = client.get(f"{LOG}/verify", headers=headers_for("audit", "230000")).json()
        assert verified["ok"] and verified["entries"] == len(log) >= 2
        with database.read_sessions() as session:
            macs = session.scalars(select(AuditEntry.mac)).all()
            assert len(macs) == len(log) and all(m and len(m) == 64 for m in macs)
            assert verify(session, key_set=database.audit_keys()).ok
            other = verify(session, key_set=AuditKeySet(1, {1: b"another hub's audit key"}))
        assert not other.ok and other.broken_seq == 1 and "mac does not" in str(other.reason)
        # generated beside the database, owner-only, like the hub's other keys
        key_file = settings.secrets_dir / "linkage-hub.audit.key"
        assert database.audit_keys() == AuditKeySet(1, {1: key_file.read_bytes().strip()})
        assert key_file.stat().st_mode & 0o077 == 0

    def test_the_mac_is_hmac_sha256_of_seq_and_hash(self) -> None:
        """What an operator checking the log outside the hub computes (primed pads in the hub)."""
        import hashlib
        import hmac

        from linkage_hub.audit.chain import mac

        for key in (b"k", b"x" * 64, b"y" * 65):
            expected = hmac.new(key, f"7\n{'ab' * 32}".encode(), hashlib.sha256).hexdigest()
            assert mac(key, 7, "ab" * 32) == expected
