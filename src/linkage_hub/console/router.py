"""Signing in and out of the console, setting a password from a one-time link, the stylesheet.

Sign-in checks the password through :func:`linkage_hub.auth.service.authenticate` with
``person=True``: the same lockout per (account, address) and per address as the token
endpoint, the same answer for an unknown username as for a wrong password. A success opens a
server-side session (:mod:`linkage_hub.auth.sessions`), notes ``user.sign_in`` in the audit
log, and goes back to the page that asked for it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from linkage_hub.audit.service import Entry, append
from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.auth.service import Authenticated, ClientError, Locked, authenticate
from linkage_hub.auth.sessions import (
    COOKIE,
    check_origin,
    end_session,
    open_session,
    secure_cookie,
    session_token,
)
from linkage_hub.auth.users import (
    USER_PREFIX,
    LinkNotValid,
    check_username,
    link_holder,
    set_password,
    user_id,
)
from linkage_hub.clientaddr import limit_key, source_address
from linkage_hub.console.pages import STYLESHEET, render, safe_next
from linkage_hub.db import Database, DatabaseDep, DbSession
from linkage_hub.dependencies import SettingsDep
from linkage_hub.errors import HubError

router = APIRouter(prefix="/console", include_in_schema=False)

Text = Annotated[str, Form(max_length=200)]


@router.get("/assets/console.css")
def stylesheet() -> Response:
    response = Response(STYLESHEET, media_type="text/css; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=safe_next(next), username="", error=None)


@router.post("/login")
async def login(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=100)],
    password: Text,
    next: Annotated[str, Form(max_length=500)] = "/console/",
) -> Response:
    try:
        await check_origin(request)
    except HubError:
        return render(
            request, "login.html", 403, next="/console/", username="", error="请从本站登录页登录。"
        )
    address = source_address(request.scope, settings.trusted_proxies)
    try:
        name = check_username(username)
    except ClientError:
        name = "-"  # checked like an unknown account: same cost, same answer
    outcome = await run_in_threadpool(
        authenticate, db, user_id(name), password, limit_key(address), person=True
    )
    if isinstance(outcome, Locked):
        page = render(
            request,
            "login.html",
            429,
            next=safe_next(next),
            username=username,
            error=f"失败次数过多，请 {outcome.retry_after} 秒后再试。",
        )
        page.headers["Retry-After"] = str(outcome.retry_after)
        return page
    if not isinstance(outcome, Authenticated):
        return render(
            request,
            "login.html",
            401,
            next=safe_next(next),
            username=username,
            error="用户名或密码不正确。",
        )
    account = outcome.client
    token = await run_in_threadpool(
        open_session, db, account.client_id, account.secret_version, address
    )
    await run_in_threadpool(
        _note_sign_in, db, account.client_id, account.region, account.department
    )
    request.state.client_id = account.client_id
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.console_session_hours * 3600,
        path="/console",
        secure=secure_cookie(request),
        httponly=True,
        samesite="strict",
    )
    return response


def _note_sign_in(db: Database, client_id: str, region: str, department: str) -> None:
    """The sign-in's audit entry, under the person's department and region (an auditor
    filtering the log by department finds it, as every other entry of theirs)."""
    with db.transaction() as session:
        append(
            session,
            Entry(
                action="user.sign_in",
                actor=client_id,
                department=department,
                region=region,
                target_type="client",
                target_id=client_id,
                detail={},
            ),
        )


@router.post("/logout")
async def logout(request: Request, db: DatabaseDep, principal: CurrentPrincipal) -> Response:
    token = session_token(request)
    if token is not None:
        await run_in_threadpool(end_session, db, token)
        request.app.state.auth.console_callers.pop(token, None)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/password/{token}")
def password_page(request: Request, token: str, session: DbSession) -> Response:
    holder = link_holder(session, token)
    username = holder.client_id.removeprefix(USER_PREFIX) if holder else None
    return render(request, "password.html", valid=holder is not None, username=username)


@router.post("/password/{token}")
def set_password_page(
    request: Request,
    token: str,
    session: DbSession,
    password: Text,
    confirm: Text,
) -> Response:
    holder = link_holder(session, token)
    if holder is None:
        return render(request, "password.html", 404, valid=False)
    username = holder.client_id.removeprefix(USER_PREFIX)
    error = None
    if password != confirm:
        error = "两次输入的密码不一致。"
    else:
        try:
            set_password(session, username, password, link_token=token, actor=holder.client_id)
        except LinkNotValid:  # used meanwhile (the same link sent twice at once)
            session.rollback()
            return render(request, "password.html", 404, valid=False)
        except ClientError:
            error = "密码至少 12 个字符，且至少包含 5 个不同的字符。"
    if error:
        session.rollback()
        return render(request, "password.html", 422, valid=True, username=username, error=error)
    return render(request, "password.html", done=True, valid=True)
