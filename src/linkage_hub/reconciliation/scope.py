"""The scope of a run: which findings it may create, update or resolve.

A run over region R reads the records inside R only (``region BETWEEN :lo AND :hi``). A finding's
evidence may span regions — a person on a county unit's roster whom HR lists at a city unit —
and such a finding belongs to the smallest region that contains all of its evidence: only runs
over that region or one above it create, update or resolve it (DOMAIN.md). A narrower run sees
part of the evidence only, so it must neither resolve what it cannot see nor file what it sees
half of (a county run would call that person 有编无人, never having seen the HR record). Hence:

- a **person** finding is in scope when every current record of the person — roster,
  employment, cadres, and payroll lines of the run's period — lies inside R. A person with a
  record outside R is left alone by the run: no finding filed, none updated, none resolved;
- a **unit** finding is in scope when its unit lies inside R now (the registry's region, else
  the one in its code: a unit that moved to a sibling region takes its findings along, though
  their stored ``region`` is still the one they were last found in) and, for
  ``OVER_INTERNAL_UNITS``, so do the registered child units it counts (they count wherever
  they sit);
- and in any case the finding is filed inside R (its ``region``).

This module is the one door: :func:`run_scope` works out what lies outside R, and
:meth:`RunScope.excludes` is the single predicate the engine uses both to drop out-of-scope
subjects from ``rc_found`` before the merge and to keep the merge from resolving them. Every
route to a run — the API, ``linkage-hub reconcile``, the schedule — reaches it through
:func:`linkage_hub.reconciliation.runs.execute_run`.

Cost: the per-subject checks are index probes (person key; parent code) on the few thousand
subjects a run finds or would resolve, and only for the datasets that have current records
outside R at all — a province run over a hub holding one province probes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from linkage_hub.domain import Dataset
from linkage_hub.reconciliation.merge import PERSON_TABLES
from linkage_hub.reconciliation.rules import RuleCode
from linkage_hub.reconciliation.staging import sql
from linkage_hub.registry.regions import unit_region_now

_OUTSIDE = "(t.region < :lo OR t.region > :hi)"


@dataclass(frozen=True, slots=True)
class RunScope:
    """What lies outside the run's region: the datasets that can take a subject out of scope."""

    outside: frozenset[Dataset]

    def excludes(self, alias: str) -> str:
        """SQL over a finding row ``alias`` (``region``, ``rule``, ``person_key``,
        ``unit_code``): true when the finding is not the run's to create, update or resolve."""
        parts = [f"{alias}.region NOT BETWEEN :lo AND :hi"]
        for dataset, table in PERSON_TABLES.items():
            if dataset in self.outside:
                period = " AND t.period = :period" if dataset is Dataset.payroll else ""
                parts.append(
                    f"EXISTS (SELECT 1 FROM {table} t WHERE t.person_key = {alias}.person_key "
                    f"AND t.closed_at IS NULL{period} AND {_OUTSIDE})"
                )
        if self.outside:
            # a unit finding whose unit is now outside R (moved to a sibling region: the
            # finding's stored region is the one it had when last found): not R's to resolve
            now = unit_region_now(f"{alias}.unit_code")
            parts.append(f"({alias}.person_key IS NULL AND {now} NOT BETWEEN :lo AND :hi)")
        if Dataset.units in self.outside:
            parts.append(
                f"({alias}.rule = '{RuleCode.OVER_INTERNAL_UNITS}' AND EXISTS (SELECT 1 FROM "
                f"rc_unit t WHERE t.parent_code = {alias}.unit_code AND t.registered = 1 "
                f"AND {_OUTSIDE}))"
            )
        return "(" + " OR ".join(parts) + ")"

    def confine(self, session: Session, params: Mapping[str, Any]) -> None:
        """Drop from ``rc_found`` what the run found but may not file (see the module)."""
        session.execute(sql(f"DELETE FROM rc_found WHERE {self.excludes('rc_found')}"), params)


def run_scope(session: Session, params: Mapping[str, Any]) -> RunScope:
    """The run's scope; ``params`` are the run's bound parameters (``lo``, ``hi``, ``period``).
    Two index range probes per table (below and above the region), never a scan."""
    tables: dict[Dataset, str] = {**PERSON_TABLES, Dataset.units: "registry_unit"}
    outside = set()
    for dataset, table in tables.items():
        if dataset is Dataset.payroll and params["period"] is None:
            continue  # no period: the run reads no payroll line at all
        period = " AND period = :period" if dataset is Dataset.payroll else ""
        for side in ("region < :lo", "region > :hi"):
            query = f"SELECT 1 FROM {table} WHERE closed_at IS NULL{period} AND {side} LIMIT 1"
            bound = {"lo": params["lo"], "hi": params["hi"], "period": params["period"]}
            if session.execute(text(query), bound).first() is not None:
                outside.add(dataset)
                break
    return RunScope(frozenset(outside))
