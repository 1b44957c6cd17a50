"""Who is calling: the principal a verified token names, and what it may see."""

from __future__ import annotations

from dataclasses import dataclass, field

from linkage_hub.domain import DATASET_OWNER, Dataset, Department
from linkage_hub.identifiers import region_contains
from linkage_hub.versioning import region_bounds


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    name: str
    department: Department
    region: str
    scopes: frozenset[str] = field(default_factory=frozenset)

    def contains(self, region: str) -> bool:
        """Whether ``region`` lies inside the caller's region (province ⊃ city ⊃ county)."""
        return region_contains(self.region, region)

    @property
    def region_bounds(self) -> tuple[str, str]:
        """``(low, high)`` for SQL: ``region BETWEEN low AND high`` is the caller's region."""
        return region_bounds(self.region)

    def owns(self, dataset: Dataset) -> bool:
        return DATASET_OWNER[dataset] == self.department

    @property
    def sees_salaries(self) -> bool:
        return self.department in (Department.finance, Department.audit)
