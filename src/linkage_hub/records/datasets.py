"""The seven datasets: their input models, natural keys and tables, defined once.

The Pydantic input models are the contract (OpenAPI shows them); the batch path does not build
them row by row but derives from them, once at import, a :class:`FieldSpec` per field that the
fast validator (:mod:`linkage_hub.records.validation`) applies to plain dicts. A test checks
that both agree.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import annotated_types
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table

from linkage_hub.db import Base
from linkage_hub.domain import (
    CadreLeaderLevel,
    CadreStatus,
    Dataset,
    EmploymentCategory,
    EmploymentStatus,
    EstablishmentType,
    ExitReason,
    Funding,
    LeaderLevel,
    PayrollEstablishmentType,
    PayrollFunding,
    PayrollStatus,
    RosterStatus,
    UnitKind,
    UnitStatus,
)
from linkage_hub.identifiers import PERIOD_PATTERN
from linkage_hub.records import fields
from linkage_hub.records.models import CadreRecord, EmploymentRecord, PayrollRecord, RosterRecord
from linkage_hub.registry.models import RegistryLeaderPost, RegistryQuota, RegistryUnit

ID_NUMBER = Field(
    description="Citizen ID number (公民身份号码): 18 characters; a legacy 15-digit number, "
    "a lower-case x and full-width digits are accepted and normalised.",
    examples=["11010519491231002X"],
)
UNIT_CODE = Field(
    description="The unit's unified social credit code (统一社会信用代码).",
    examples=["12230100MB1937431Y"],
)
NAME = Field(
    max_length=100,
    description="The person's name as written; compared after normalisation.",
    examples=["王芳"],
)


class RecordInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitInput(RecordInput):
    """A unit (机构) of the establishment office's registry."""

    unit_code: str = UNIT_CODE
    name: str = Field(max_length=200)
    region: str = Field(description="Division code of the unit's region.", examples=["230100"])
    kind: UnitKind
    funding: Funding
    parent_code: str | None = Field(None, description="Unit code of the parent unit.")
    classified: bool = Field(False, description="Classified (涉密): never published.")
    functions: str | None = Field(None, max_length=10_000)
    internal_unit_limit: int | None = Field(None, ge=0, description="内设机构限额")
    status: UnitStatus = UnitStatus.active
    established_on: dt.date | None = None
    abolished_on: dt.date | None = None


class QuotaInput(RecordInput):
    """An approved quota (核定编制) of one unit and establishment type."""

    unit_code: str = UNIT_CODE
    establishment_type: EstablishmentType
    approved: int = Field(ge=0)
    document_no: str | None = Field(None, max_length=100, description="批准文号")
    effective_on: dt.date | None = None


class LeaderPostInput(RecordInput):
    """Approved leader posts (领导职数) of one unit and level."""

    unit_code: str = UNIT_CODE
    level: LeaderLevel
    approved: int = Field(ge=0)
    document_no: str | None = Field(None, max_length=100)
    effective_on: dt.date | None = None


class RosterInput(RecordInput):
    """A person's entry on the real-name roster (实名制花名册) of one unit."""

    id_number: str = ID_NUMBER
    unit_code: str = UNIT_CODE
    name: str = NAME
    establishment_type: EstablishmentType
    status: RosterStatus
    entered_on: dt.date | None = None
    exited_on: dt.date | None = None
    exit_reason: ExitReason | None = None
    quota_notice_no: str | None = Field(None, max_length=100, description="控编单编号")


class CadreInput(RecordInput):
    """A cadre record of the organization department."""

    id_number: str = ID_NUMBER
    unit_code: str = UNIT_CODE
    name: str = NAME
    position: str | None = Field(None, max_length=200)
    leader_level: CadreLeaderLevel
    civil_servant_registered: bool = False
    appointed_on: dt.date | None = None
    removed_on: dt.date | None = None
    status: CadreStatus


class EmploymentInput(RecordInput):
    """An employment record of HR."""

    id_number: str = ID_NUMBER
    unit_code: str = UNIT_CODE
    name: str = NAME
    category: EmploymentCategory
    status: EmploymentStatus
    hired_on: dt.date | None = None
    status_on: dt.date | None = Field(None, description="When the status took effect.")


class PayrollInput(RecordInput):
    """A payroll line of unified payroll (工资统发) for one period."""

    period: str | None = Field(
        None,
        pattern=PERIOD_PATTERN,
        description="YYYY-MM, not after next month (422 `future`); defaults to the batch's "
        "scope period.",
        examples=["2026-10"],
    )
    id_number: str = ID_NUMBER
    unit_code: str = UNIT_CODE
    name: str = NAME
    establishment_type: PayrollEstablishmentType
    funding: PayrollFunding
    gross_pay: Decimal = Field(
        ge=0, max_digits=14, decimal_places=2, description="Yuan, decimal.", examples=["8532.50"]
    )
    status: PayrollStatus


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    convert: fields.Converter  # for JSON values
    convert_text: fields.Converter  # for CSV cells
    required: bool
    nullable: bool
    default: Any


@dataclass(frozen=True, eq=False)  # one per dataset: compared and hashed by identity (cheap,
class DatasetSpec:  # and the per-dataset caches look it up for every record shaped)
    dataset: Dataset
    model: type[Base]
    input_model: type[RecordInput]
    key: tuple[str, ...]  # natural key, in record_key order
    person: bool

    @property
    def table(self) -> Table:
        table = self.model.__table__
        assert isinstance(table, Table)
        return table

    @property
    def name(self) -> str:
        return self.dataset.value

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        return _FIELDS[self.dataset]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def extra_columns(self) -> tuple[str, ...]:
        """Input fields stored as they are, beyond the identity columns."""
        identity = {"id_number", "unit_code", "name", "region"}
        return tuple(n for n in self.field_names if n not in identity)

    @property
    def stage_columns(self) -> tuple[str, ...]:
        """Columns of a staged row, in order (see validation.RowValidator)."""
        head = ("row_no", "del", "record_key", "region")
        if self.person:
            return (
                *head,
                "person_key",
                "id_number",
                "id_number_given",
                "unit_code",
                "name",
                "name_norm",
                *self.extra_columns,
            )
        named = ("name",) if "name" in self.field_names else ()
        return (*head, "unit_code", *named, *self.extra_columns)

    @property
    def data_columns(self) -> tuple[str, ...]:
        """Stored columns a version takes from its staged row."""
        return tuple(c for c in self.stage_columns if c not in ("row_no", "del"))

    @property
    def compare_columns(self) -> tuple[str, ...]:
        """Business fields: a row equal to the current version in all of them is unchanged.
        (Derived columns — keys, normalised forms — follow from these; the encrypted ID
        number columns never compare equal, see ``queries._distinct``.)"""
        derived = {
            "record_key",
            "person_key",
            "id_number",
            "id_number_given",
            "name_norm",
            "unit_code",
        }
        if self.dataset is not Dataset.units:
            derived.add("region")
        return tuple(c for c in self.data_columns if c not in derived)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def _converters(name: str, base: Any, metadata: list[Any]) -> tuple[Any, Any]:
    special = {
        "unit_code": fields.unit_code,
        "parent_code": fields.unit_code,
        "region": fields.region,
        "period": fields.period,
    }
    if name in special:
        return special[name], special[name]
    if name == "id_number":  # handled by the row validator itself
        return fields.text(64), fields.text(64)
    if isinstance(base, type) and issubclass(base, StrEnum):
        return fields.enum(base), fields.enum(base)
    if base is dt.date:
        return fields.date, fields.date
    if base is bool:
        return fields.boolean, fields.boolean_text
    if base is int:
        return fields.count, fields.count_text
    if base is Decimal:
        return fields.money, fields.money
    if base is str:
        limit = next((m.max_length for m in metadata if isinstance(m, annotated_types.MaxLen)), 0)
        converter = (fields.name if name == "name" else fields.text)(limit or 200)
        return converter, converter
    raise TypeError(f"no converter for {name}: {base!r}")


def _derive(model: type[RecordInput]) -> tuple[FieldSpec, ...]:
    out = []
    for name, info in model.model_fields.items():
        base, nullable = _unwrap(info.annotation)
        convert, convert_text = _converters(name, base, list(info.metadata))
        default = None if info.is_required() else info.get_default()
        if isinstance(default, StrEnum):
            default = default.value
        out.append(FieldSpec(name, convert, convert_text, info.is_required(), nullable, default))
    return tuple(out)


SPECS: dict[Dataset, DatasetSpec] = {
    spec.dataset: spec
    for spec in (
        DatasetSpec(Dataset.units, RegistryUnit, UnitInput, ("unit_code",), False),
        DatasetSpec(
            Dataset.quotas, RegistryQuota, QuotaInput, ("unit_code", "establishment_type"), False
        ),
        DatasetSpec(
            Dataset.leader_posts, RegistryLeaderPost, LeaderPostInput, ("unit_code", "level"), False
        ),
        DatasetSpec(Dataset.roster, RosterRecord, RosterInput, ("id_number", "unit_code"), True),
        DatasetSpec(Dataset.cadres, CadreRecord, CadreInput, ("id_number", "unit_code"), True),
        DatasetSpec(
            Dataset.employment, EmploymentRecord, EmploymentInput, ("id_number", "unit_code"), True
        ),
        DatasetSpec(
            Dataset.payroll,
            PayrollRecord,
            PayrollInput,
            ("period", "id_number", "unit_code"),
            True,
        ),
    )
}
_FIELDS: dict[Dataset, tuple[FieldSpec, ...]] = {
    dataset: _derive(spec.input_model) for dataset, spec in SPECS.items()
}


def spec_for(dataset: Dataset) -> DatasetSpec:
    return SPECS[dataset]
