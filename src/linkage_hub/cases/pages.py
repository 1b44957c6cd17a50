"""The 12310 pages: the report form (``/public/12310``) and the follow-up by tracking code,
rendered with the public pages' templates and filed through the same service as ``POST
/public/v1/reports``. The tracking secret travels only in a form body, never in a URL (so never
in an access log or a Referer); these pages are ``no-store``.

Each form page carries a token of its own (``submission``, hidden), sent as the report's
idempotency key: the same report sent twice from one page (a double click, a reload of the
receipt, a resend after a dropped connection) files one case and shows its receipt again; the
second of a double click waits for the first. (The back button fetches the form anew, with a
new token: a report sent from there again is a new one.)"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from linkage_hub.cases import service as cases
from linkage_hub.cases.schemas import CATEGORY_ZH, STATUS_ZH, Category, ReportIn
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.errors import HubError, InvalidInput, NotFound
from linkage_hub.idempotency import REPLAYED
from linkage_hub.public import disclosures
from linkage_hub.public.caching import private
from linkage_hub.public.pages import error_page, render
from linkage_hub.public.shield import report_limit

log = logging.getLogger(__name__)
router = APIRouter(prefix="/public", include_in_schema=False)
FIELD_ZH = {
    "category": "请选择举报类别。",
    "region": "请填写六位行政区划代码。",
    "unit_code": "单位代码须为已公开单位的 18 位代码；不清楚可只填单位名称。",
    "unit_name": "单位名称不超过 200 字。",
    "facts": "请填写举报事实，不超过 5000 字。",
    "contact_name": "姓名不超过 50 字。",
    "contact_phone": "请填写有效的电话号码。",
}
CATEGORIES = [(c.value, CATEGORY_ZH[c]) for c in Category]
SUBMISSION_MAX = 200  # an Idempotency-Key's length; a longer token is not one of ours


def _form_page(
    request: Request, session: Session, form: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    response = render(
        request,
        "report_form.html",
        status,
        nav="12310",
        form=form,
        errors=errors,
        categories=CATEGORIES,
        regions=disclosures.regions(session),
    )
    return private(response)


@router.get("/12310")
def report_form(
    request: Request, session: DbSession, region: str | None = None, unit_code: str | None = None
) -> Response:
    form = {
        "region": (region or "")[:6],
        "unit_code": (unit_code or "")[:18],
        "submission": secrets.token_urlsafe(16),
    }
    return _form_page(request, session, form, {}, 200)


async def _form_fields(request: Request) -> dict[str, str]:
    data = await request.form(max_files=0, max_fields=20)
    return {k: v.strip() for k, v in data.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]


def _report(form: dict[str, str]) -> ReportIn:
    contact = None
    if form.get("contact_name") or form.get("contact_phone"):
        contact = {
            "name": form.get("contact_name") or None,
            "phone": form.get("contact_phone") or None,
        }
    return ReportIn.model_validate(
        {
            "category": form.get("category") or None,
            "region": form.get("region", ""),
            "unit_code": form.get("unit_code") or None,
            "unit_name": form.get("unit_name") or None,
            "facts": form.get("facts", ""),
            "contact": contact,
        }
    )


@router.post("/12310")
def submit_report(
    request: Request,
    form: FormFields,
    session: DbSession,
    settings: SettingsDep,
    keyring: KeyringDep,
) -> Response:
    if form.get("website"):  # the honeypot: a person never sees it; a bot fills it in
        log.info("12310 form: honeypot filled, report dropped")
        return private(
            render(
                request,
                "error.html",
                200,
                nav="12310",
                title="举报已提交",
                message="感谢您的反映。",
            )
        )
    errors: dict[str, str] = {}
    answer = Response()
    submission = form.get("submission") or None
    try:
        report = _report(form)
        receipt = cases.file_once(
            session,
            settings,
            keyring,
            answer,
            report,
            key=submission if submission and len(submission) <= SUBMISSION_MAX else None,
            over_limit=report_limit(request),
            wait=True,
        )
    except ValidationError as exc:
        for e in exc.errors():
            loc = [str(x) for x in e["loc"]]
            name = "contact_" + loc[1] if loc[0] == "contact" and len(loc) > 1 else loc[0]
            errors.setdefault(name, FIELD_ZH.get(name, "请检查此项。"))
        return _form_page(request, session, form, errors, 422)
    except InvalidInput as exc:
        for problem in exc.errors or []:
            field = str(problem.field)
            errors.setdefault(field, FIELD_ZH.get(field, problem.message))
        return _form_page(request, session, form, errors, 422)
    except HubError as error:
        return error_page(request, error)
    replayed = answer.headers.get(REPLAYED) is not None
    page = render(
        request,
        "report_done.html",
        201,
        nav="12310",
        tracking_code=receipt.tracking_code,
        secret=receipt.secret,
        due_on=receipt.due_on,
        replayed=replayed,
    )
    if replayed:
        page.headers[REPLAYED] = "true"
    return private(page)


@router.get("/12310/lookup")
def lookup(request: Request, tracking_code: str = "") -> Response:
    code = tracking_code.strip().upper()
    if not code or len(code) > 14 or not all(c.isalnum() or c == "-" for c in code):
        return error_page(request, NotFound("No such report."))
    return RedirectResponse(f"/public/12310/{code}", status_code=303)


@router.get("/12310/{tracking_code}")
def follow_page(request: Request, tracking_code: str) -> Response:
    code = tracking_code[:14]
    return private(render(request, "follow.html", nav="12310", tracking_code=code, status=None))


@router.post("/12310/{tracking_code}")
def follow_status(
    request: Request,
    tracking_code: str,
    form: FormFields,
    session: DbSession,
    keyring: KeyringDep,
) -> Response:
    code = tracking_code[:14]
    try:
        status = cases.follow_up(session, keyring, code, form.get("secret", ""))
    except NotFound:
        page = render(request, "follow.html", 404, nav="12310", tracking_code=code, wrong=True)
        return private(page)
    return private(
        render(
            request,
            "follow.html",
            nav="12310",
            tracking_code=code,
            status=status,
            status_zh=STATUS_ZH[status.status],
        )
    )
