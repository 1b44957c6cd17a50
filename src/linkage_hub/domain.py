"""The shared vocabulary of DOMAIN.md: departments, datasets and every code value.

Every room imports its codes from here, so a code is spelled once.
"""

from __future__ import annotations

from enum import StrEnum


class Department(StrEnum):
    establishment = "establishment"  # 编办
    organization = "organization"  # 组织部
    hr = "hr"  # 人社局
    finance = "finance"  # 财政局
    audit = "audit"  # 审计局


class Dataset(StrEnum):
    units = "units"
    quotas = "quotas"
    leader_posts = "leader_posts"
    roster = "roster"
    cadres = "cadres"
    employment = "employment"
    payroll = "payroll"


DATASET_OWNER: dict[Dataset, Department] = {
    Dataset.units: Department.establishment,
    Dataset.quotas: Department.establishment,
    Dataset.leader_posts: Department.establishment,
    Dataset.roster: Department.establishment,
    Dataset.cadres: Department.organization,
    Dataset.employment: Department.hr,
    Dataset.payroll: Department.finance,
}

PERSON_DATASETS = frozenset({Dataset.roster, Dataset.cadres, Dataset.employment, Dataset.payroll})


class UnitKind(StrEnum):
    organ = "organ"  # 党政机关
    political_legal_organ = "political_legal_organ"  # 政法机关
    institution = "institution"  # 事业单位
    civil_service_managed_institution = "civil_service_managed_institution"  # 参公事业单位


class EstablishmentType(StrEnum):
    administrative = "administrative"  # 行政编制
    political_legal = "political_legal"  # 政法专项编制
    institutional = "institutional"  # 事业编制
    worker = "worker"  # 工勤编制


ALLOWED_TYPES: dict[UnitKind, frozenset[EstablishmentType]] = {
    UnitKind.organ: frozenset({EstablishmentType.administrative, EstablishmentType.worker}),
    UnitKind.political_legal_organ: frozenset(
        {
            EstablishmentType.administrative,
            EstablishmentType.political_legal,
            EstablishmentType.worker,
        }
    ),
    UnitKind.institution: frozenset({EstablishmentType.institutional}),
    UnitKind.civil_service_managed_institution: frozenset({EstablishmentType.institutional}),
}


class Funding(StrEnum):
    full = "full"  # 全额拨款
    partial = "partial"  # 差额拨款
    self_ = "self"  # 自收自支


class UnitStatus(StrEnum):
    active = "active"
    abolished = "abolished"


class LeaderLevel(StrEnum):
    principal = "principal"  # 正职
    deputy = "deputy"  # 副职


class CadreLeaderLevel(StrEnum):
    principal = "principal"
    deputy = "deputy"
    none = "none"


class RosterStatus(StrEnum):
    active = "active"
    exited = "exited"


class ExitReason(StrEnum):
    retirement = "retirement"  # 退休
    transfer_out = "transfer_out"  # 调出
    resignation = "resignation"  # 辞职
    dismissal = "dismissal"  # 辞退/解聘
    expulsion = "expulsion"  # 开除
    death = "death"  # 死亡
    other = "other"


class CadreStatus(StrEnum):
    active = "active"
    removed = "removed"


class EmploymentCategory(StrEnum):
    civil_servant = "civil_servant"
    civil_service_managed = "civil_service_managed"
    institution_staff = "institution_staff"
    worker = "worker"
    contract = "contract"


class EmploymentStatus(StrEnum):
    active = "active"
    retired = "retired"
    resigned = "resigned"
    dismissed = "dismissed"
    deceased = "deceased"
    transferred_out = "transferred_out"


EXIT_STATUSES = frozenset(
    {
        EmploymentStatus.retired,
        EmploymentStatus.resigned,
        EmploymentStatus.dismissed,
        EmploymentStatus.deceased,
        EmploymentStatus.transferred_out,
    }
)


class PayrollEstablishmentType(StrEnum):
    administrative = "administrative"
    political_legal = "political_legal"
    institutional = "institutional"
    worker = "worker"
    none = "none"  # staff outside any quota


class PayrollFunding(StrEnum):
    budget = "budget"
    self_funded = "self_funded"


class PayrollStatus(StrEnum):
    paid = "paid"
    suspended = "suspended"
