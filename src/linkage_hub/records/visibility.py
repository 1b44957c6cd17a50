"""Who reads which fields of a dataset: decided here, once, by department (``gross_pay`` for
finance and audit only). The reads (:mod:`linkage_hub.records.service`), the change feed, the
batch answers and the ``records.changed`` events (:mod:`linkage_hub.records.publish`, the
dispatcher) all follow it."""

from __future__ import annotations

import functools

from linkage_hub.auth.principal import Principal
from linkage_hub.domain import Dataset, Department
from linkage_hub.records.datasets import DatasetSpec


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
