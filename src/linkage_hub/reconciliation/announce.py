"""The outbox events of reconciliation: what a run changed, and what people did to findings.

A run's ``finding.opened``, ``finding.resolved`` and ``finding.reopened`` events come from the
status changes it wrote (``reconciliation_event`` rows with its ``run_id``), in one statement,
in the transaction that ends the run, and a ``finding.opened`` (``kind: moved``) for each live
finding it filed under another region; ``run.finished`` follows them. A transition or a comment
is one event in the request's transaction. Payloads are thin (never a summary: it may name a
person): the finding's id, rule, severity, region, unit and statuses.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from linkage_hub.outbox import write as outbox
from linkage_hub.reconciliation.merge import REFILED
from linkage_hub.reconciliation.models import Finding, Run
from linkage_hub.reconciliation.staging import drop_temp_tables

COUNTS = ("found", "new", "resolved", "reopened")


def run_ended(session: Session, run: Run, now: dt.datetime) -> None:
    """The run's finding events, then ``run.finished``. Call before the run's audit entry."""
    dialect = session.get_bind().dialect.name
    data = outbox.json_object(
        dialect,
        ("status", "e.to_status"),
        ("from_status", "e.from_status"),
        ("departments", "f.departments"),
        ("kind", "CAST(:kind AS VARCHAR(12))"),
    )
    if run.status == "succeeded":
        outbox.append_select(
            session,
            "SELECT CASE WHEN e.from_status IS NULL THEN 'finding.opened' "
            "WHEN e.to_status = 'resolved' THEN 'finding.resolved' ELSE 'finding.reopened' END, "
            "f.region, f.unit_code, NULL, f.rule, f.severity, f.id, NULL, e.run_id, "
            f"{data}, :now FROM reconciliation_event e "
            "JOIN reconciliation_finding f ON f.id = e.finding_id "
            "WHERE e.run_id = :run_id ORDER BY e.id",
            {"run_id": run.id, "now": now, "kind": run.kind},
        )
        # The live findings the run filed under another region (merge.REFILED): the region
        # entered hears of each as of a moved unit's (records.publish): ``finding.opened``,
        # ``kind: moved``, its status as it is. The region it left is told nothing.
        moved = outbox.json_object(
            dialect,
            ("status", "f.status"),
            ("from_status", "NULL"),
            ("departments", "f.departments"),
            ("kind", "'moved'"),
        )
        outbox.append_select(
            session,
            "SELECT 'finding.opened', f.region, f.unit_code, NULL, f.rule, f.severity, f.id, "
            f"NULL, CAST(:run_id AS VARCHAR(32)), {moved}, :now FROM {REFILED} r "
            "JOIN reconciliation_finding f ON f.id = r.id ORDER BY f.id",
            {"run_id": run.id, "now": now},
        )
        drop_temp_tables(session, dialect, [REFILED])
    counts = run.counts or {}
    outbox.append(
        session,
        type="run.finished",
        region=run.region,
        now=now,
        run_id=run.id,
        data={
            "kind": run.kind,
            "status": run.status,
            "counts": {k: sum(int(c.get(k, 0)) for c in counts.values()) for k in COUNTS},
            "batches": len(run.batches),
        },
    )


def finding_changed(
    session: Session,
    finding: Finding,
    type: str,
    now: dt.datetime,
    data: dict[str, str | int | None],
) -> None:
    """``finding.transitioned`` or ``finding.commented``. Call before the audit entry."""
    outbox.append(
        session,
        type=type,
        region=finding.region,
        now=now,
        unit_code=finding.unit_code,
        rule=finding.rule,
        severity=finding.severity,
        finding_id=finding.id,
        data={"status": finding.status, "departments": finding.departments, **data},
    )
