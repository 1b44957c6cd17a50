"""Rendering console pages, and console errors as pages.

Console pages are server-rendered in Chinese with the public pages' stylesheet and a small
console one, under a CSP that allows nothing from elsewhere and no script at all: charts are
server-side SVG. Every page is ``Cache-Control: no-store`` (it shows what one person may see)
and carries the session's CSRF token for its forms (:mod:`linkage_hub.auth.sessions`).

A console request that fails its policy check raises the API's own errors; :func:`page_error`
turns them into pages: 401 → the sign-in page (with ``next``), anything else → an error page
with the API's status.
"""

from __future__ import annotations

import datetime as dt
from importlib.resources import files
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from linkage_hub.auth.principal import Principal
from linkage_hub.auth.sessions import csrf_token, session_token
from linkage_hub.errors import HubError
from linkage_hub.identifiers import mask_citizen_id, mask_id_numbers_in
from linkage_hub.public.pages import FUNDING_ZH, KIND_ZH, LEVEL_ZH
from linkage_hub.reports.staffing import TYPE_ZH
from linkage_hub.settings import Settings

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    # Not the API's no-referrer: under it a browser sends "Origin: null" with a form post, and
    # the CSRF check wants to see this hub's origin there. Other sites still get nothing.
    "Referrer-Policy": "same-origin",
}
DEPARTMENT_ZH = {
    "establishment": "编办",
    "organization": "组织部",
    "hr": "人社局",
    "finance": "财政局",
    "audit": "审计局",
}
SEVERITY_ZH = {"critical": "严重", "high": "高", "medium": "中", "low": "低"}
STATUS_ZH = {
    "open": "待处理",
    "reopened": "重新出现",
    "acknowledged": "已确认",
    "waived": "已豁免",
    "resolved": "已解决",
    "queued": "排队中",
    "running": "运行中",
    "succeeded": "已完成",
    "failed": "失败",
}
DATASET_ZH = {
    "units": "机构",
    "quotas": "编制核定",
    "leader_posts": "领导职数",
    "roster": "实名制名册",
    "cadres": "干部任职",
    "employment": "人事聘用",
    "payroll": "工资发放",
}
TITLES = {
    401: "请登录",
    403: "无权操作",
    404: "未找到",
    409: "状态已变化",
    422: "请求有误",
    429: "请求过于频繁",
    503: "服务繁忙",
}
# What a refusal means, for people (the API's problem detail, in English, follows it).
HINTS = {
    403: "您的部门无权进行此项操作。",
    404: "所要的内容不存在，或不在您所在地区的范围内（下级地区的可以查看，同级和上级的不能）。",
    409: "内容已被他人改动，请刷新后重试。",
    422: "请求中有内容不符合要求，请检查下列各项。",
    429: "请求过于频繁，请稍后再试。",
    503: "服务暂时繁忙，请稍后再试；未做任何改动。",
}

_env = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(str(files("linkage_hub.console") / "templates")),
            FileSystemLoader(str(files("linkage_hub.public") / "templates")),
        ]
    ),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(
    department_zh=lambda v: DEPARTMENT_ZH.get(v, v),
    severity_zh=lambda v: SEVERITY_ZH.get(v, v),
    status_zh=lambda v: STATUS_ZH.get(v, v),
    dataset_zh=lambda v: DATASET_ZH.get(v, v),
    type_zh=lambda v: TYPE_ZH.get(v, v),
    kind_zh=lambda v: KIND_ZH.get(v, v),
    funding_zh=lambda v: FUNDING_ZH.get(v, v),
    level_zh=lambda v: LEVEL_ZH.get(v, v),
    mask=mask_citizen_id,
)


def _lines(text: str) -> Markup:
    """Free text people typed (a reporter's facts, a reply, a comment, a reason), escaped, its
    line breaks kept, and any run that could be an ID number masked: a number typed into prose
    is shown in full only where a person's number is, behind the audited "show"."""
    return Markup("<br>").join(escape(line) for line in mask_id_numbers_in(text).splitlines())


_env.filters.update(masked=mask_id_numbers_in, lines=_lines)

SHOWN_ERRORS = 20  # of a refused form's fields, on its error page (the API's problem has all)
STYLESHEET = (files("linkage_hub.console") / "assets" / "console.css").read_bytes()


def render(
    request: Request,
    template: str,
    http_status: int = 200,
    *,
    principal: Principal | None = None,
    **context: Any,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    zone = settings.zone
    token = getattr(request.state, "console_token", None) or session_token(request)
    context.setdefault("nav", "")
    context["me"] = principal
    context["csrf"] = csrf_token(token) if token and principal is not None else ""
    context["local"] = lambda t: t.astimezone(zone).strftime("%Y-%m-%d %H:%M") if t else ""
    context["today"] = dt.datetime.now(zone).date()
    body = _env.get_template(template).render(**context)
    return HTMLResponse(body, status_code=http_status, headers=HEADERS)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path of this hub, never another site."""
    if value and value.startswith("/console/") and "//" not in value and "\\" not in value:
        return value
    return "/console/"


def page_error(request: Request, error: HubError) -> Response:
    """A refused console request as a page (the status of the API's problem)."""
    if error.status == 401:
        target = "/console/"  # after a form post, the form is gone: start from the overview
        if request.method == "GET":
            target = request.url.path + ("?" + request.url.query if request.url.query else "")
        return RedirectResponse(
            "/console/login?next=" + quote(safe_next(target), safe="/"), status_code=303
        )
    principal = getattr(request.state, "principal", None)
    response = render(
        request,
        "console_error.html",
        error.status,
        principal=principal if isinstance(principal, Principal) else None,
        title=TITLES.get(error.status, "出错了"),
        hint=HINTS.get(error.status, ""),
        detail=error.detail or "",
        # the fields the API's problem names, as its body names them (never an ID number)
        errors=[(e.field, e.message) for e in (error.errors or [])[:SHOWN_ERRORS]],
    )
    for name, value in error.headers.items():
        if name.lower() != "www-authenticate":
            response.headers[name] = value
    return response
