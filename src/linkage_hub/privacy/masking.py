"""Masked ID numbers (``2301**********1234``) for output that circulates beyond the departments.

Departments send and receive full ID numbers: they need them to match their own records. A
report or list that goes further (to a meeting, a leader, another office) can be masked: by the
caller (``mask=true``) or, for every report download, by the hub (``LINKAGE_MASK_EXPORTS``).
Masked means no full ID number anywhere in it: the ``id_number`` fields, and any number a
department's system or a person wrote into a free-text field (a cadre's 职务, a roster line's
控编单编号, a unit's name). The console shows every record so, masked or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from linkage_hub.identifiers import mask_citizen_id, mask_id_numbers_in
from linkage_hub.settings import Settings

ID_FIELDS = ("id_number", "id_number_given")
#: A record's fields that hold a code the hub validated or a key it made, never typed text: a
#: unified social credit code may be 18 digits, and a hex key may hold a run of 15, which would
#: read as an ID number. Every other text field is free text.
CODE_FIELDS = frozenset(
    {"unit_code", "parent_code", "record_key", "person_key", "batch_id", "client_id"}
    | {"meeting_id", "tracking_code"}
)
#: Fields whose values the hub validated against a short list (a rule, a status, a region
#: code, an establishment type): no typed text, so no pass of the masker (a masked download
#: masks each row as it streams: each field read costs ~0.1 µs a character).
CHOSEN_FIELDS = frozenset(
    {"id", "run_id", "rule", "severity", "status", "region", "establishment_type", "level"}
    | {"responsible_department", "kind", "funding", "category", "leader_level", "period"}
)


def mask_exports(settings: Settings, requested: bool) -> bool:
    """Whether a report download masks: asked for, or the deployment masks every export."""
    return requested or settings.mask_exports


def mask_text(name: str, text: str) -> str:
    """Field ``name`` of a record with any ID number in it masked, unless it is a code. A
    record's free text is the department's as sent, and a number its system wrote there is
    anyone's, not the record's person's."""
    return text if name in CODE_FIELDS or name in CHOSEN_FIELDS else mask_id_numbers_in(text)


def mask_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with its ID number fields masked, and any number typed into its
    free text (None stays None)."""
    return {
        name: (mask_citizen_id(value) if name in ID_FIELDS else mask_text(name, value))
        if isinstance(value, str)
        else value
        for name, value in record.items()
    }


def mask_records(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """For streaming report rows: each row masked as it passes."""
    return (mask_record(r) for r in records)
