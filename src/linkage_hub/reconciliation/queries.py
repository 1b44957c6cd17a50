"""One set-based query per rule: each inserts the subjects it finds into ``rc_found``.

Person rules read ``rc_person`` (see :mod:`staging`): the rule is its ``predicate`` over that
table's columns, and the same predicates, OR-ed, decide which persons ``rc_person`` keeps.
Unit rules read ``rc_unit_tally``, ``rc_unit`` and the registry. Every query yields the finding's
identity, subject, region, answerable departments and a summary in Chinese and English.
Parameters (``:period``, ``:as_of``, ``:late_exit_before``, ``:grace``, the region bounds
``:lo``/``:hi``) are bound, never formatted in.

A summary is stored once and shown to everyone who may open the finding, that is to the region
it is filed under (the region of its unit) and above; its evidence may hold records of other
regions, which that region sees withheld. So a summary quotes a value of a record (a date, a
name, an amount, another unit's code) only when the record lies in the finding's own region,
and otherwise says the same without the value (LATE_EXIT: "人社部门记录已离职"). Parameters
(the period, the grace), the finding's own unit and counts of units (which the withheld
evidence shows too) are not values of another region's record.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage_hub.domain import Department
from linkage_hub.reconciliation.rules import RULES_BY_CODE, SEVERITY_RANK, RuleCode
from linkage_hub.reconciliation.staging import LEVEL_CODES, TYPE_CODES, decode, region_of

R = RuleCode
PERIOD = "CAST(:period AS VARCHAR(7))"
GRACE = "CAST(:grace AS VARCHAR(10))"

TYPE_ZH = {
    "administrative": "行政编制",
    "political_legal": "政法专项编制",
    "institutional": "事业编制",
    "worker": "工勤编制",
}
LEVEL_ZH = {"principal": "正职", "deputy": "副职"}


def label(column: str, labels: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{text}'" for code, text in labels.items())
    return f"CASE {column} {whens} ELSE {column} END"


def departments_fixed(code: RuleCode) -> str:
    return "'," + "".join(f"{d}," for d in RULES_BY_CODE[code].departments) + "'"


def departments_when(pairs: list[tuple[str, Department]], prefix: str = "") -> str:
    parts = [f"CASE WHEN {cond} THEN '{dept},' ELSE '' END" for cond, dept in pairs]
    return "','" + (f" || '{prefix}'" if prefix else "") + " || " + " || ".join(parts)


# LATE_EXIT's summary quotes the latest HR exit date only when every HR record of that date
# lies in the region of the finding's unit (rc_unit u is joined on it): see the module docstring.
LATE_EXIT_UNIT = "p.r_unit"
LATEST_EXIT = "CAST(p.h_exit_max AS VARCHAR(10))"
LATEST_EXIT_HERE = (
    f"p.h_exit_lo = {region_of(LATE_EXIT_UNIT)} AND p.h_exit_hi = {region_of(LATE_EXIT_UNIT)}"
)

E, ORG, H, F = Department.establishment, Department.organization, Department.hr, Department.finance

ACTIVE_DEPARTMENTS = departments_when(
    [("p.r_act_n > 0", E), ("p.c_act > 0", ORG), ("p.h_act_n > 0", H), ("p.p_paid_n > 0", F)]
)
ANY_DEPARTMENTS = departments_when(
    [("p.r_any > 0", E), ("p.c_any > 0", ORG), ("p.h_any > 0", H), ("p.p_any > 0", F)]
)
ACTIVE_COUNT = (
    "(CASE WHEN p.r_act_n > 0 THEN 1 ELSE 0 END + CASE WHEN p.c_act > 0 THEN 1 ELSE 0 END"
    " + CASE WHEN p.h_act_n > 0 THEN 1 ELSE 0 END + CASE WHEN p.p_paid_n > 0 THEN 1 ELSE 0 END)"
)


@dataclass(frozen=True, slots=True)
class PersonRule:
    """A person rule: its predicate over ``rc_person`` and how DOMAIN.md's words are read.

    ``doc`` is the rule's docstring: the definition as the predicate implements it, over every
    unit the person has records in, and each decision taken where DOMAIN.md is ambiguous.
    """

    doc: str
    predicate: str  # over rc_person's columns, aliased p; counts are units, tested for presence
    unit: str  # the unit the finding is filed under: one whose records break the rule
    zh: str
    en: str
    departments: str | None = None  # SQL; default: the rule's answerable departments


PERSON_RULES: dict[RuleCode, PersonRule] = {
    R.PAID_WITHOUT_ESTABLISHMENT: PersonRule(
        "Paid (any unit, a line of the period with status paid) under a type other than"
        " `none` in at least one unit, and no roster entry in any unit, active or exited."
        ' Decision: a roster entry in another unit than the paying one counts ("at all").',
        "p.p_typed > 0 AND p.r_any = 0",
        "p.typed_unit",
        f"{PERIOD} || ' 工资统发有此人，但实名制花名册无此人'",
        f"'paid in ' || {PERIOD} || ' but not on the roster'",
    ),
    R.PAID_AFTER_EXIT: PersonRule(
        "Paid by any unit, and either (a) the person has roster entries, none is active,"
        " and the latest exited_on of all of them is before the period's first day, or (b)"
        " HR has records, none is active, and the latest status_on of all of them (each an"
        " exit status) is before the period's first day. Decisions: an exit on the first day"
        " itself is not before it; an exit without a date (exited_on or status_on missing)"
        " makes the latest date unknown, so that clause does not hold.",
        "p.p_paid_n > 0 AND ("
        "(p.r_any > 0 AND p.r_act_n = 0 AND p.r_undated = 0 AND p.r_exit_max < :period_start)"
        " OR (p.h_any > 0 AND p.h_act_n = 0 AND p.h_undated = 0"
        " AND p.h_exit_max < :period_start))",
        "p.p_unit",
        f"{PERIOD} || ' 工资统发仍在发薪，但此人此前已出编或已离职'",
        f"'paid in ' || {PERIOD} || ' after leaving (exited from the roster or left per HR)'",
    ),
    R.DUPLICATE_PAYROLL: PersonRule(
        "Paid (status paid, this period) by at least two units; one unit is not a finding.",
        "p.p_paid_n >= 2",
        "p.p_unit",
        f"{PERIOD} || ' 由 ' || p.p_paid_n || ' 个单位同时发放工资'",
        f"'paid by ' || p.p_paid_n || ' units in ' || {PERIOD}",
    ),
    R.DUPLICATE_ESTABLISHMENT: PersonRule(
        "Active on the roster of at least two units; exited entries do not count.",
        "p.r_act_n >= 2",
        "p.r_unit",
        "'同时在 ' || p.r_act_n || ' 个单位的实名制花名册在编'",
        "'active on the roster of ' || p.r_act_n || ' units'",
    ),
    R.MIXED_ESTABLISHMENT: PersonRule(
        "Any one of the person's active roster entries breaks (a), (b) or (c) in its own"
        " unit: the comparison with the paid line and the cadre record is within the same"
        " unit, never across units. Decision: (a) and (c) need the unit registered (its kind"
        " is the registry's); (b) holds in an unregistered unit too. The finding is filed"
        " under the first such unit (by code).",
        "p.r_mixed > 0",
        "p.mixed_unit",
        "'单位 ' || p.mixed_unit || ' 的在编类型与单位性质、工资统发或公务员登记不符'",
        "'establishment type in unit ' || p.mixed_unit"
        " || ' does not fit the unit kind, the payroll line or civil-servant registration'",
    ),
    R.EMPLOYED_WITHOUT_ESTABLISHMENT: PersonRule(
        "HR has an active record of a category other than `contract` in any unit, and the"
        " person has no active roster entry in any unit. Decision: a roster entry in another"
        ' unit than the HR record satisfies "an active roster entry" (a unit that differs'
        " is UNIT_MISMATCH's business).",
        "p.h_career > 0 AND p.r_act_n = 0",
        "p.career_unit",
        "'人社部门有在职（非合同制）记录，但实名制花名册无在编记录'",
        "'employed per HR (not contract staff) but not active on the roster'",
    ),
    R.LATE_EXIT: PersonRule(
        "Active on the roster of any unit, HR has records and none of them is active, and"
        " the latest status_on of them all took effect more than the grace (working days)"
        " before the as-of date. Decisions: exactly the grace is not late; an exit without"
        " status_on makes the latest date unknown, so the rule does not hold.",
        "p.r_act_n > 0 AND p.h_any > 0 AND p.h_act_n = 0 AND p.h_undated = 0"
        " AND p.h_exit_max < :late_exit_before",
        LATE_EXIT_UNIT,
        f"'人社部门记录已' || CASE WHEN {LATEST_EXIT_HERE} THEN '于 ' || {LATEST_EXIT} || ' '"
        f" ELSE '' END || '离职，超过 ' || {GRACE} || ' 个工作日仍在实名制花名册在编'",
        f"CASE WHEN {LATEST_EXIT_HERE} THEN 'left on ' || {LATEST_EXIT} || ' per HR'"
        f" ELSE 'left per HR' END || ', still on the roster after ' || {GRACE}"
        " || ' working days'",
    ),
    R.ESTABLISHED_NOT_EMPLOYED: PersonRule(
        "Active on the roster of any unit and HR has no record of the person in any unit,"
        " whatever its status: an HR exit record is a record (LATE_EXIT covers it).",
        "p.r_act_n > 0 AND p.h_any = 0",
        "p.r_unit",
        "'实名制花名册在编，但人社部门无此人记录'",
        "'on the roster but unknown to HR'",
    ),
    R.ESTABLISHED_NOT_PAID: PersonRule(
        "Active on the roster of at least one registered unit whose funding is not `self`,"
        " entered on or before the period's last day (or with no entry date), and paid by no"
        " unit (in the run's region and period). Decisions: a paid line in any unit, even"
        ' another than the funded one, is "paid"; one who entered after the period was owed'
        " no pay in it.",
        "p.r_funded > 0 AND p.p_paid_n = 0",
        "p.funded_unit",
        f"'实名制花名册在编（财政拨款单位），但 ' || {PERIOD} || ' 工资统发无此人'",
        f"'on the roster of a budget-funded unit but not paid in ' || {PERIOD}",
    ),
    R.CADRE_WITHOUT_ESTABLISHMENT: PersonRule(
        "An active cadre record at level principal or deputy in any unit, and no active"
        " roster entry in any unit (an exited entry is not one).",
        "p.c_lead > 0 AND p.r_act_n = 0",
        "p.lead_unit",
        "'组织部门记录担任领导职务，但实名制花名册无在编记录'",
        "'holds a leader post per the organization department but is not on the roster'",
    ),
    R.UNIT_MISMATCH: PersonRule(
        "Active in at least two departments (active roster, active HR, active cadre, paid;"
        " each department counts once however many units it names) and no unit holds an"
        " active record of every one of them. Decisions: units are compared by code, a child"
        " unit is not its parent; one common unit is enough, other units a department also"
        " names are not a mismatch; answerable: every department active for the person.",
        f"{ACTIVE_COUNT} >= 2 AND p.best_common < {ACTIVE_COUNT}",
        "COALESCE(p.r_unit, p.act_unit)",
        "'各部门记录的所在单位不一致'",
        "'the departments name different units'",
        ACTIVE_DEPARTMENTS,
    ),
    R.FUNDING_MISMATCH: PersonRule(
        "Paid (status paid) with funding `budget` by at least one unit whose registry funding"
        " is `self` (registered or not: the registry's word on funding).",
        "p.p_budget_self > 0",
        "p.budget_self_unit",
        f"{PERIOD} || ' 以财政拨款发放工资，但单位 ' || p.budget_self_unit || ' 为自收自支'",
        f"'paid from the budget in ' || {PERIOD} || ' by self-funded unit ' || p.budget_self_unit",
    ),
    R.NAME_MISMATCH: PersonRule(
        "The normalised names on all the person's records (roster, employment, cadres in"
        " every status and unit, the period's payroll lines) are not all the same."
        " Answerable: every department with a record of the person, in any number of units.",
        "p.name_min <> p.name_max",
        "p.any_unit",
        "'各部门记录的姓名不一致'",
        "'the departments spell the name differently'",
        ANY_DEPARTMENTS,
    ),
}

FOUND_COLUMNS = (
    "identity, rule, severity, severity_rank, region, unit_code, person_key, "
    "establishment_type, level, departments, summary_zh, summary_en"
)


def _head(code: RuleCode) -> str:
    rule = RULES_BY_CODE[code]
    return f"'{code}', '{rule.severity}', {SEVERITY_RANK[rule.severity]}"


def person_rule_sql(code: RuleCode) -> str:
    spec = PERSON_RULES[code]
    departments = spec.departments or departments_fixed(code)
    return f"""
INSERT INTO rc_found ({FOUND_COLUMNS})
SELECT '{code}:' || p.person_key, {_head(code)},
       {region_of(spec.unit)}, {spec.unit}, p.person_key, NULL, NULL,
       {departments}, {spec.zh}, {spec.en}
FROM rc_person p
LEFT JOIN rc_unit u ON u.unit_code = {spec.unit}
WHERE {spec.predicate}"""


def over_quota_sql() -> str:
    """OVER_QUOTA: active roster entries of a registered unit × type above the approved quota
    in force on the as-of date (``rc_approved``, see :mod:`staging`; none in force counts as 0).

    A person on the rosters of several units counts once in each of them (that is also
    DUPLICATE_ESTABLISHMENT); at the quota exactly is not over. Decision: a unit's own entries
    count, not its child units' (each child is a registered unit with its own quota).

    A registered unit with people on the roster under a type it has no quota row for is over
    a quota of 0 and is found (DOMAIN.md: "no quota row counts as 0"), whether it has quota
    rows of other types or none at all. Decision: the rule runs only where the region has
    current quota rows (the gate, :attr:`linkage_hub.reconciliation.rules.Rule.requires`),
    read per dataset, not per department: DOMAIN.md's gate is that "a department that has not
    joined yet does not flood the list", and an establishment office that has pushed its units
    and roster but not yet its quotas would otherwise find every staffed unit over a quota of
    0. OVER_LEADER_POSTS gates on leader posts the same way.
    """
    code = R.OVER_QUOTA
    type_zh = label("a.r_type", TYPE_ZH)
    r_type = decode(TYPE_CODES, "t.r_type")
    return f"""
INSERT INTO rc_found ({FOUND_COLUMNS})
SELECT '{code}:' || a.unit_code || ':' || a.r_type, {_head(code)},
       u.region, a.unit_code, NULL, a.r_type, NULL, {departments_fixed(code)},
       '单位 ' || a.unit_code || ' ' || {type_zh} || '实名在编 ' || a.n
         || ' 人，超过核定编制 ' || COALESCE(q.approved, 0) || ' 名',
       'unit ' || a.unit_code || ': ' || a.n || ' on the roster under ' || a.r_type
         || ', ' || COALESCE(q.approved, 0) || ' approved'
FROM (SELECT t.unit_code, {r_type} AS r_type, SUM(t.n_roster) AS n
      FROM rc_unit_tally t WHERE t.r_type <> 0
      GROUP BY t.unit_code, t.r_type) a
JOIN rc_unit u ON u.unit_code = a.unit_code AND u.registered = 1
LEFT JOIN rc_approved q
  ON q.unit_code = a.unit_code AND q.category = a.r_type AND q.dataset = 'quotas'
WHERE a.n > COALESCE(q.approved, 0)"""


def over_leader_posts_sql() -> str:
    """OVER_LEADER_POSTS: active cadres of a registered unit × level above the approved posts
    in force on the as-of date (as OVER_QUOTA's quota).

    A leader with posts in several units counts once in each; removed cadres do not count;
    at the approved number exactly is not over.
    """
    code = R.OVER_LEADER_POSTS
    level_zh = label("a.c_level", LEVEL_ZH)
    c_level = decode(LEVEL_CODES, "t.c_level")
    return f"""
INSERT INTO rc_found ({FOUND_COLUMNS})
SELECT '{code}:' || a.unit_code || ':' || a.c_level, {_head(code)},
       u.region, a.unit_code, NULL, NULL, a.c_level, {departments_fixed(code)},
       '单位 ' || a.unit_code || ' 在任' || {level_zh} || ' ' || a.n
         || ' 人，超过核定领导职数 ' || COALESCE(lp.approved, 0) || ' 名',
       'unit ' || a.unit_code || ': ' || a.n || ' serving at level ' || a.c_level
         || ', ' || COALESCE(lp.approved, 0) || ' posts approved'
FROM (SELECT t.unit_code, {c_level} AS c_level, SUM(t.n_leaders) AS n
      FROM rc_unit_tally t WHERE t.c_level <> 0
      GROUP BY t.unit_code, t.c_level) a
JOIN rc_unit u ON u.unit_code = a.unit_code AND u.registered = 1
LEFT JOIN rc_approved lp
  ON lp.unit_code = a.unit_code AND lp.category = a.c_level AND lp.dataset = 'leader_posts'
WHERE a.n > COALESCE(lp.approved, 0)"""


def over_internal_units_sql() -> str:
    """OVER_INTERNAL_UNITS: more registered child units than the internal-unit limit.

    Decision: the internal units are the direct children (wherever their region); in a tree
    three levels deep a grandchild counts for its own parent, not for the root.
    """
    code = R.OVER_INTERNAL_UNITS
    return f"""
INSERT INTO rc_found ({FOUND_COLUMNS})
SELECT '{code}:' || u.unit_code, {_head(code)},
       u.region, u.unit_code, NULL, NULL, NULL, {departments_fixed(code)},
       '单位 ' || u.unit_code || ' 设有内设机构 ' || c.n || ' 个，超过限额 '
         || u.internal_unit_limit || ' 个',
       'unit ' || u.unit_code || ' has ' || c.n || ' internal units, the limit is '
         || u.internal_unit_limit
FROM rc_unit u
JOIN (SELECT parent_code, COUNT(*) AS n FROM rc_unit
      WHERE registered = 1 AND parent_code IS NOT NULL GROUP BY parent_code) c
  ON c.parent_code = u.unit_code
WHERE u.registered = 1 AND u.internal_unit_limit IS NOT NULL
  AND u.region BETWEEN :lo AND :hi AND c.n > u.internal_unit_limit"""


def unregistered_unit_sql() -> str:
    """UNREGISTERED_UNIT: an active roster, cadre or HR record or a paid line names a unit
    that is not registered; one finding per unit, however many persons or units a person
    holds. Answerable: establishment plus every department with such a record there."""
    code = R.UNREGISTERED_UNIT
    naming = departments_when([("a.c > 0", ORG), ("a.h > 0", H), ("a.p > 0", F)], prefix=f"{E},")
    return f"""
INSERT INTO rc_found ({FOUND_COLUMNS})
SELECT '{code}:' || a.unit_code, {_head(code)},
       COALESCE(u.region, SUBSTR(a.unit_code, 3, 6)), a.unit_code, NULL, NULL, NULL, {naming},
       '单位 ' || a.unit_code || ' 未经机构编制登记（不存在或已撤销），但有人员记录指向该单位',
       'unit ' || a.unit_code || ' is not registered (missing or abolished) but records name it'
FROM (SELECT t.unit_code, MAX(t.r) AS r, MAX(t.c) AS c, MAX(t.h) AS h, MAX(t.p) AS p
      FROM rc_unit_tally t GROUP BY t.unit_code) a
LEFT JOIN rc_unit u ON u.unit_code = a.unit_code
WHERE a.r + a.c + a.h + a.p > 0 AND COALESCE(u.registered, 0) = 0"""


UNIT_RULES = {
    R.OVER_QUOTA: over_quota_sql,
    R.OVER_LEADER_POSTS: over_leader_posts_sql,
    R.OVER_INTERNAL_UNITS: over_internal_units_sql,
    R.UNREGISTERED_UNIT: unregistered_unit_sql,
}


def rule_sql(code: RuleCode) -> str:
    if code in PERSON_RULES:
        return person_rule_sql(code)
    return UNIT_RULES[code]()
