"""Who reads which fields of a dataset: decided here, once, by department (``gross_pay`` for
finance and audit only). The reads (:mod:`linkage_hub.records.service`), the change feed, the
batch answers and the ``records.changed`` events (:mod:`linkage_hub.records.publish`, the
dispatcher) all follow it. Which batches a caller may open is decided here too
(:func:`batch_openable`)."""

from __future__ import annotations

import functools

from sqlalchemy import ColumnElement

from linkage_hub.auth.principal import Principal
from linkage_hub.domain import Dataset, Department
from linkage_hub.records.datasets import DatasetSpec
from linkage_hub.records.models import Batch


def hidden_fields(spec: DatasetSpec, principal: Principal) -> tuple[str, ...]:
    """The fields of a dataset the caller may not read: pay, for all but finance and audit.
    The caller's department decides, whatever its client or region (:func:`hidden_for`)."""
    if spec.dataset is Dataset.payroll and not principal.sees_salaries:
        return ("gross_pay",)
    return ()


@functools.cache
def hidden_for(spec: DatasetSpec, department: Department) -> tuple[str, ...]:
    """:func:`hidden_fields` of every caller of ``department``."""
    anyone = Principal(client_id="", name="", department=department, region="")
    return hidden_fields(spec, anyone)


@functools.cache
def audiences(spec: DatasetSpec) -> tuple[tuple[str, ...], ...]:
    """The distinct sets of fields of the dataset that departments may not read, ``()`` (all
    read) first: one for a dataset every department reads alike."""
    return tuple(sorted({hidden_for(spec, d) for d in Department}))


def audience_tag(spec: DatasetSpec, department: Department) -> str | None:
    """The ``hidden`` tag of the ``records.changed`` events of ``spec`` meant for
    ``department`` (its hidden fields, comma-separated; ``""`` for none), or None where the
    dataset's events are untagged, for every department."""
    if len(audiences(spec)) == 1:
        return None
    return ",".join(hidden_for(spec, department))


def visible_columns(spec: DatasetSpec, hidden: tuple[str, ...]) -> list[str]:
    """The business fields a caller that cannot read ``hidden`` reads, the region included."""
    columns = [c for c in spec.compare_columns if c not in hidden]
    return columns if "region" in columns else [*columns, "region"]


def batch_openable(principal: Principal) -> ColumnElement[bool]:
    """The batches the caller may open (``GET /batches/{id}``), as a ``WHERE`` clause: those
    whose scope lies inside its region, of any dataset and department (every department
    reads every dataset of its region; pay-only changes are counted apart, see
    :func:`linkage_hub.records.service.get_batch`). Every row a batch wrote or closed lies in
    its scope (``ingest.Pusher.check_stage``), so its counts are of the caller's region. A
    city's batch is not the county's to open, though it wrote the county's records (their
    ``batch_id`` names it): its counts add up the sibling counties too. The runs that name
    or filter by a batch (:mod:`linkage_hub.reconciliation.history`) use this clause."""
    return Batch.scope_region.between(*principal.region_bounds)
