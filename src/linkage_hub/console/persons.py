"""The person search (``/console/persons``): one person across the departments.

The ID number travels only in a form post, never in an address: it stays out of the browser's
history, the access log and any ``Referer``. The page calls ``person_view`` exactly as
``GET /api/v1/persons/{id_number}`` does, with the same person-read audit, and shows the number
masked.

Showing the full number is a deliberate act, logged apart from the read: the "显示完整身份证号"
button posts the search again with ``reveal=1``, and that request appends a ``person.reveal``
entry naming the person by person key (``GET /api/v1/audit-log?id_number=`` finds it). The
button cannot carry the number itself — the masked page would then hold it in full — so it
carries ``ref``: the number sealed with the ID key together with this session's CSRF token,
useless in any other session and opaque to whoever reads the page's source.

"Show" reveals the person's number, the ``id_number`` of their records, and nothing more. An ID
number a department's system wrote into a record's free text (a 控编单编号, a 职务) stays
masked after it, as on every console page: it may be anyone's, and the ``person.reveal`` entry
names this person alone.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from linkage_hub.audit.service import append, by
from linkage_hub.auth.policy import CurrentPrincipal, person_reads
from linkage_hub.auth.principal import Principal
from linkage_hub.auth.sessions import csrf_token, session_token
from linkage_hub.ciphers import CipherError, version_of
from linkage_hub.console.pages import render
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.errors import FieldError, InvalidInput, NotFound
from linkage_hub.keys import Keyring
from linkage_hub.persons import service
from linkage_hub.persons.service import SIDE_BY_SIDE
from linkage_hub.privacy.masking import mask_text
from linkage_hub.reconciliation.rules import RULES_BY_CODE
from linkage_hub.reports.staffing import TYPE_ZH

router = APIRouter(prefix="/console", include_in_schema=False)

FormField = Annotated[str, Form(max_length=400)]
# What a record card shows, in this order (identifiers and batch bookkeeping are left out:
# the ID number is shown once, at the top, masked unless revealed).
FIELDS_ZH = {
    "unit_code": "单位代码",
    "name": "姓名",
    "establishment_type": "编制类型",
    "category": "人员类别",
    "position": "职务",
    "leader_level": "领导职级",
    "civil_servant_registered": "公务员登记",
    "status": "状态",
    "entered_on": "入编日期",
    "exited_on": "出编日期",
    "exit_reason": "出编原因",
    "quota_notice_no": "控编单编号",
    "appointed_on": "任职日期",
    "removed_on": "免职日期",
    "hired_on": "聘用日期",
    "status_on": "状态日期",
    "period": "工资期间",
    "funding": "经费来源",
    "gross_pay": "应发工资（元）",
    "region": "行政区划",
    "version": "版本",
}
ACTIVE_ZH = {"roster": "在册", "cadres": "在任", "employment": "在职"}
VALUES_ZH = {
    "exited": "已出编",
    "removed": "已免职",
    "retired": "退休",
    "resigned": "辞职",
    "dismissed": "辞退/解聘",
    "deceased": "死亡",
    "transferred_out": "调出",
    "paid": "已发放",
    "suspended": "暂停发放",
    "budget": "财政拨款",
    "self_funded": "自筹",
    "retirement": "退休",
    "transfer_out": "调出",
    "resignation": "辞职",
    "dismissal": "辞退/解聘",
    "expulsion": "开除",
    "death": "死亡",
    "other": "其他",
    "civil_servant": "公务员",
    "civil_service_managed": "参公人员",
    "institution_staff": "事业人员",
    "worker": "工勤人员",
    "contract": "合同制",
    "principal": "正职",
    "deputy": "副职",
    "none": "无",
}


def _binding(request: Request) -> str:
    """This session's CSRF token: what a sealed ``ref`` must carry to open here."""
    return csrf_token(session_token(request) or "")


def seal_ref(keyring: Keyring, request: Request, number: str) -> str:
    return keyring.seal_id(f"{_binding(request)} {number}")


def open_ref(keyring: Keyring, request: Request, ref: str) -> str:
    """The ID number of a ``ref`` sealed in this session; 422 for anything else."""
    try:
        if version_of(ref) == 0:
            raise CipherError("not sealed")
        bound, _, number = keyring.reveal_id(ref).partition(" ")
    except CipherError:
        bound, number = "", ""
    if not number or not hmac.compare_digest(bound, _binding(request)):
        raise InvalidInput(
            "The form is stale: search again.",
            errors=[FieldError(field="ref", code="stale", message="search again")],
        )
    return number


def _shown(dataset: str, key: str, value: Any) -> str:
    """A record's value as the card shows it: in Chinese, any ID number typed into it masked
    (:func:`mask_text`), revealed or not: "show" reveals the
    person's own ``id_number``, not a number typed into the fields."""
    if key == "status" and value == "active":
        return ACTIVE_ZH.get(dataset, "有效")
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if key == "establishment_type":
        return TYPE_ZH.get(str(value), str(value))
    text = VALUES_ZH.get(str(value), str(value)) if isinstance(value, str) else str(value)
    return mask_text(key, text)


def _cards(records: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each dataset's records as cards: the fields people read, in Chinese."""
    return [
        {
            "dataset": dataset.value,
            "records": [
                {
                    "unit_code": r.get("unit_code"),
                    "fields": [
                        (k, label, _shown(dataset.value, k, r[k]))
                        for k, label in FIELDS_ZH.items()
                        if k in r
                    ],
                }
                for r in records.get(dataset.value, [])
            ],
        }
        for dataset in SIDE_BY_SIDE
    ]


def _search(request: Request, principal: Principal, status: int = 200, **context: Any) -> Response:
    """The search form alone (again, after a bad number or a person not found)."""
    return render(
        request, "persons.html", status, principal=principal, nav="persons", view=None, **context
    )


@router.get("/persons")
def search_page(request: Request, principal: CurrentPrincipal) -> Response:
    return _search(request, principal)


@router.post("/persons")
def person_page(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    keyring: KeyringDep,
    principal: CurrentPrincipal,
    id_number: FormField = "",
    ref: FormField = "",
    reveal: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """The person view as a page; with ``reveal=1`` the full ID number, logged."""
    number = open_ref(keyring, request, ref) if ref else id_number
    try:
        view = service.person_view(session, keyring, settings, principal, number)
    except InvalidInput as exc:  # the search form again, naming the field (never the value)
        errors = exc.errors or []
        return _search(request, principal, 422, errors=errors)
    except NotFound:
        return _search(request, principal, 404, not_found=True)
    shown = sum(len(rows) for rows in view.records.values())
    regions = service.regions_read(view)
    person_key = keyring.person_key(view.id_number)
    person_reads(request).add_all(((person_key, r) for r in regions), records=shown)
    revealed = reveal == "1"
    if revealed:
        entry = by(
            principal,
            "person.reveal",
            principal.region,
            target_type="person",
            target_id=person_key,
            detail={"records": shown},
            persons=frozenset((person_key, r) for r in regions),
            regions=frozenset(regions) - {principal.region},
        )
        append(session, entry)
    return render(
        request,
        "persons.html",
        principal=principal,
        nav="persons",
        view=view,
        revealed=revealed,
        ref=seal_ref(keyring, request, view.id_number),
        cards=_cards(view.records),
        rules_by_code=RULES_BY_CODE,
    )
