"""The hub's own front door and API documentation, with nothing loaded from the internet.

Government networks are often cut off from the internet: FastAPI's ``/docs`` and ``/redoc``
load Swagger UI and ReDoc from a CDN and render blank there. The hub serves them itself, from
copies vendored from their npm packages (``assets/``: swagger-ui-dist 5.35.0, Apache-2.0;
redoc 2.5.4, MIT; the licences beside them; ``scripts/vendor_assets.sh`` refreshes them), under
a content security policy that allows nothing from elsewhere. ``/`` is a landing page that leads
to the public pages, the 12310 line, the console and the API documentation.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from linkage_hub.errors import NotFound

ASSETS = files("linkage_hub") / "assets"
# name in the URL -> (file under assets/, media type)
FILES = {
    "swagger-ui-bundle.js": ("swagger-ui/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui/swagger-ui.css", "text/css"),
    "favicon.png": ("swagger-ui/favicon-32x32.png", "image/png"),
    "redoc.standalone.js": ("redoc/redoc.standalone.js", "text/javascript"),
}
# The docs initialise their bundles with an inline script, style with inline styles, and ReDoc
# runs a worker from a blob; everything else only from the hub itself.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
LANDING_CSP = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"
LANDING = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>linkage-hub · 机构编制实名制联动管理</title>
<link rel="stylesheet" href="/public/assets/public.css">
</head>
<body>
<header class="site"><div class="wrap"><p class="brand">机构编制实名制联动管理</p></div></header>
<main id="main" class="wrap">
<h1>linkage-hub</h1>
<p class="lead">编办、组织部、人社局、财政局、审计局共享实名制数据、比对差异的枢纽。
The staffing linkage hub of five departments.</p>
<ul class="landing">
<li><a href="/public/">机构编制信息公开</a> — 各地区已公开的机构、职能、编制和领导职数（公众）</li>
<li><a href="/public/12310">12310 网上举报</a>
— 举报违反机构编制纪律的问题，凭查询码查询进度（公众）</li>
<li><a href="/console/">联动管理工作台</a>
— 编办、组织部、人社局、财政局、审计局工作人员登录，处理差异、查看报表（需账号）</li>
<li><a href="/docs">API 文档（Swagger UI）</a> · <a href="/redoc">ReDoc</a> ·
<a href="/openapi.json">OpenAPI</a> — 各部门系统对接的接口（需令牌）</li>
<li><a href="/health/live">服务状态</a></li>
</ul>
</main>
</body>
</html>
"""


@cache
def _read(path: str) -> bytes:
    return (ASSETS / path).read_bytes()


def _asset(request: Request) -> Response:
    found = FILES.get(str(request.path_params.get("name", "")))
    if found is None:
        raise NotFound("No such asset.")
    path, media_type = found
    response = Response(_read(path), media_type=media_type)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def _with_csp(response: HTMLResponse, csp: str) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = csp
    return response


def install(app: FastAPI) -> None:
    """Add ``/``, ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and ``/assets/{name}``
    (create the app with ``docs_url=None, redoc_url=None``)."""
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"

    async def landing(request: Request) -> HTMLResponse:
        return _with_csp(HTMLResponse(LANDING), LANDING_CSP)

    async def swagger(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — Swagger UI",
            swagger_js_url="/assets/swagger-ui-bundle.js",
            swagger_css_url="/assets/swagger-ui.css",
            swagger_favicon_url="/assets/favicon.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )
        return _with_csp(page, DOCS_CSP)

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return _with_csp(get_swagger_ui_oauth2_redirect_html(), DOCS_CSP)

    async def redoc(request: Request) -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} — ReDoc",
            redoc_js_url="/assets/redoc.standalone.js",
            redoc_favicon_url="/assets/favicon.png",
            with_google_fonts=False,
        )
        return _with_csp(page, DOCS_CSP)

    async def asset(request: Request) -> Response:
        return _asset(request)

    app.add_route("/", landing, include_in_schema=False)
    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route("/docs/oauth2-redirect", oauth2_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    app.add_route("/assets/{name}", asset, include_in_schema=False)
