"""What reconciliation does when the hub starts and stops."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from linkage_hub.db import Database
from linkage_hub.reconciliation.executor import RunExecutor, Scheduler
from linkage_hub.reconciliation.onwrite import OnWrite
from linkage_hub.reconciliation.runs import recover

log = logging.getLogger(__name__)


def start(app: FastAPI, db: Database) -> Scheduler | None:
    """Fail the runs a dead process left behind, and start the schedule when configured."""
    app.state.run_executor = RunExecutor(db)
    app.state.reconciliation_scheduler = None
    try:
        recover(db)
    except SQLAlchemyError:  # no schema yet: /health/ready says so
        log.warning("reconciliation runs not checked at start-up: database not ready")
    settings = app.state.settings
    app.state.reconcile_on_write = None
    if settings.reconcile_on_write:
        on_write = OnWrite(db)
        on_write.start()
        app.state.reconcile_on_write = on_write
    if settings.schedule_cron and settings.schedule_regions:
        scheduler = Scheduler(
            db, settings.schedule_cron, list(settings.schedule_regions), settings.zone
        )
        scheduler.start()
        app.state.reconciliation_scheduler = scheduler
        return scheduler
    return None


def stop(app: FastAPI, scheduler: Scheduler | None) -> None:
    on_write: OnWrite | None = getattr(app.state, "reconcile_on_write", None)
    if on_write is not None:
        on_write.stop()
    if scheduler is not None:
        scheduler.stop()
    executor: RunExecutor | None = getattr(app.state, "run_executor", None)
    if executor is not None:
        executor.join()
