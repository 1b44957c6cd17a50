"""The console's overview (``/console/``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.console.pages import render

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/")
def dashboard(request: Request, principal: CurrentPrincipal) -> Response:
    return render(request, "dashboard.html", principal=principal, nav="dashboard")
