"""Scopes: what a client's token may be used for, capped by its department.

A client holds a subset of its department's scopes (``clients create --scope`` narrows it), and a
token holds a subset of its client's (the ``scope`` parameter of ``POST /oauth/token`` narrows
it again). Every permission of the route table needs one scope; see ``policy.REQUIRED_SCOPE``.
"""

from __future__ import annotations

from enum import StrEnum

from linkage_hub.domain import Department


class Scope(StrEnum):
    read = "read"  # read the shared datasets, discrepancies and reports of the region
    write = "write"  # push and change the department's own datasets
    comment = "comment"  # comment on discrepancies (会商)
    transition = "transition"  # acknowledge, waive or reopen discrepancies
    # the establishment office's acts of office: runs, disclosures, working 12310 cases
    reconcile = "reconcile"
    audit = "audit"  # audit-only views, such as the access record


_EVERYONE = frozenset({Scope.read, Scope.comment, Scope.transition})

DEPARTMENT_SCOPES: dict[Department, frozenset[Scope]] = {
    Department.establishment: _EVERYONE | {Scope.write, Scope.reconcile},
    Department.organization: _EVERYONE | {Scope.write},
    Department.hr: _EVERYONE | {Scope.write},
    Department.finance: _EVERYONE | {Scope.write},
    Department.audit: _EVERYONE | {Scope.audit},  # audit writes nothing but comments
}


def parse_scopes(text: str) -> frozenset[str]:
    """A space-separated scope string (RFC 6749 §3.3) as a set; unknown names are kept."""
    return frozenset(part for part in text.split(" ") if part)


def format_scopes(scopes: frozenset[str] | set[str]) -> str:
    return " ".join(sorted(scopes))
