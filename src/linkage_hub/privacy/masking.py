"""Masked ID numbers (``2301**********1234``) for output that circulates beyond the departments.

Departments send and receive full ID numbers: they need them to match their own records. A
report or list that goes further (to a meeting, a leader, another office) can be masked: by the
caller (``mask=true``) or, for every report download, by the hub (``LINKAGE_MASK_EXPORTS``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from linkage_hub.identifiers import mask_citizen_id
from linkage_hub.settings import Settings

ID_FIELDS = ("id_number", "id_number_given")


def mask_exports(settings: Settings, requested: bool) -> bool:
    """Whether a report download masks: asked for, or the deployment masks every export."""
    return requested or settings.mask_exports


def mask_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with its ID number fields masked (None stays None)."""
    masked = dict(record)
    for name in ID_FIELDS:
        value = masked.get(name)
        if isinstance(value, str):
            masked[name] = mask_citizen_id(value)
    return masked


def mask_records(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """For streaming report rows: each row masked as it passes."""
    return (mask_record(r) for r in records)
