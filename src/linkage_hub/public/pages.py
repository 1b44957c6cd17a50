"""The public pages, server-rendered in Chinese: regions → region → unit. They read through the
same services as ``/public/v1`` (one implementation), need no JavaScript, print cleanly, and
load nothing from outside the hub (one stylesheet, served here; the Content-Security-Policy
allows nothing else). The 12310 pages (:mod:`linkage_hub.cases.pages`) render with the same
templates and :func:`render`.

Published pages carry the publication's ETag and are revalidated on every use (``no-cache``).
"""

from __future__ import annotations

import datetime as dt
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from linkage_hub.db import DbSession
from linkage_hub.dependencies import SettingsDep
from linkage_hub.errors import HubError, InvalidInput, NotFound
from linkage_hub.identifiers import IdentifierError, normalise_region
from linkage_hub.inputs import in_range
from linkage_hub.public import disclosures
from linkage_hub.public.caching import cached, publication_etag
from linkage_hub.reports.staffing import TYPE_ZH
from linkage_hub.settings import Settings

router = APIRouter(prefix="/public", include_in_schema=False)
PAGE_SIZE = 200

KIND_ZH = {
    "organ": "党政机关",
    "political_legal_organ": "政法机关",
    "institution": "事业单位",
    "civil_service_managed_institution": "参照公务员法管理事业单位",
}
FUNDING_ZH = {"full": "全额拨款", "partial": "差额拨款", "self": "自收自支"}
LEVEL_ZH = {"principal": "正职", "deputy": "副职"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

_env = Environment(
    loader=FileSystemLoader(str(files("linkage_hub.public") / "templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(
    kind_zh=lambda v: KIND_ZH.get(v, v),
    funding_zh=lambda v: FUNDING_ZH.get(v, v),
    type_zh=lambda v: TYPE_ZH.get(v, v),
    level_zh=lambda v: LEVEL_ZH.get(v, v),
)
STYLESHEET = (files("linkage_hub.public") / "assets" / "public.css").read_bytes()


def render(request: Request, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    zone = settings.zone
    context.setdefault("nav", "disclosures")
    context["local"] = lambda t: t.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    body = _env.get_template(template).render(**context)
    return HTMLResponse(body, status_code=http_status, headers=SECURITY_HEADERS)


TITLES = {404: "未找到", 408: "请求超时", 422: "请求有误", 429: "请求过于频繁", 503: "服务繁忙"}
MESSAGES = {
    404: "您要查看的页面不存在或未公开。",
    408: "表单内容未能及时送达，请重新提交。",
    422: "请求的参数不正确，请检查后重试。",
    429: "您的请求过于频繁，请稍后再试。",
    503: "服务暂时繁忙，请稍后再试。",
}


def error_page(request: Request, error: HubError) -> HTMLResponse:
    """A refusal as a page for people (same status and headers as the API's problem)."""
    status = error.status
    response = render(
        request,
        "error.html",
        status,
        title=TITLES.get(status, "出错了"),
        message=MESSAGES.get(status, "请求未能完成。"),
    )
    response.headers.update(error.headers)
    return response


def _region(value: str) -> str:
    try:
        return normalise_region(value)
    except IdentifierError:
        raise NotFound("No such region.") from None


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("date is not a date.") from None
    if not in_range(day):
        raise InvalidInput("date is out of range.")
    return day


@router.get("/")
def index_page(request: Request, session: DbSession) -> Response:
    return render(request, "index.html", regions=disclosures.regions(session))


@router.get("/assets/public.css")
def stylesheet() -> Response:
    response = Response(STYLESHEET, media_type="text/css; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def _chosen(day: dt.date | None, publication: str | None) -> str:
    """The query that chose the publication (``date=`` or ``publication=``), for the page's
    links, without its ``?``."""
    if publication:
        return f"publication={publication}"
    return f"date={day.isoformat()}" if day else ""


@router.get("/disclosures/{region}")
def region_page(
    request: Request,
    region: str,
    session: DbSession,
    settings: SettingsDep,
    date: str | None = None,
    publication: str | None = None,
    after: str | None = None,
) -> Response:
    try:
        region = _region(region)
        day = _date(date)
        chosen = disclosures.publication_input(publication or None, day)
        hidden = disclosures.hidden_codes(session)
        p = disclosures.latest(session, region, day, settings.zone, hidden, chosen)
    except HubError as error:
        return error_page(request, error)
    after = after if after and after.isalnum() and len(after) <= 18 else None
    history = disclosures.history(session, region)
    query = _chosen(day, chosen)

    def build() -> Response:
        units = disclosures.units(session, p.id, after=after, limit=PAGE_SIZE + 1, hidden=hidden)
        more = len(units) > PAGE_SIZE
        return render(
            request,
            "region.html",
            p=p,
            units=units[:PAGE_SIZE],
            after=after,
            next_after=units[PAGE_SIZE - 1]["unit_code"] if more else None,
            history=history,
            date_q=f"?{query}" if query else "",
            date_amp=f"&{query}" if query else "",
        )

    # The page lists the region's publications too: a newer one changes a past day's page.
    view = ("page", str(after), disclosures.hidden_tag(session, p.id, hidden), history[0].id)
    return cached(request, publication_etag(p.id, *view), build)


@router.get("/disclosures/{region}/units/{unit_code}")
def unit_page(
    request: Request,
    region: str,
    unit_code: str,
    session: DbSession,
    settings: SettingsDep,
    date: str | None = None,
    publication: str | None = None,
) -> Response:
    try:
        region = _region(region)
        day = _date(date)
        chosen = disclosures.publication_input(publication or None, day)
        hidden = disclosures.hidden_codes(session)
        p = disclosures.latest(session, region, day, settings.zone, hidden, chosen)
        u = disclosures.unit(session, p.id, unit_code, hidden)
    except HubError as error:
        return error_page(request, error)

    def build() -> Response:
        parent = None
        if u.get("parent_code"):
            try:
                parent = disclosures.unit(session, p.id, u["parent_code"], hidden)
            except NotFound:
                parent = None  # outside this publication (or not public): its code only
        query = _chosen(day, chosen)
        date_q = f"?{query}" if query else ""
        children = [c["unit_code"] for c in u["internal_units"]]
        here = disclosures.published_codes(session, p.id, children)
        return render(request, "unit.html", p=p, u=u, parent=parent, date_q=date_q, here=here)

    view = ("page", unit_code, disclosures.hidden_tag(session, p.id, hidden))
    return cached(request, publication_etag(p.id, *view), build)
