"""The report downloads of the console: the API's own endpoints, mounted again under /console.

``/console/reports/staffing``, ``/discrepancies``, ``/tenure`` and ``/annual`` are the very
functions of :mod:`linkage_hub.reports.router` and :mod:`linkage_hub.annual.router`, so a
person's download is the department's download byte for byte: the same parameters and
defaults, region rule, masking, streaming and file names. What
differs is only how the caller is known — the policy takes a console route's caller from the
session cookie — and that errors come back as pages. Their permission rows and the person-read
audit follow the route template: the endpoints open ``person_reads(request)``, which admits the
console templates listed in ``PERSON_READS`` beside the API's, and the access record and
``read`` entry name the person (``user:<username>``) and the console route.

One difference more: no ID number goes into a console address — it would stay in the
browser's history and in a ``next=`` after a session ends. The problem list takes no
``id_number`` (a 422, as the findings page; a person's findings are on the person search), and
the tenure report, which needs the leader's, is a posted form (``POST /console/reports/tenure``,
with the session's CSRF token, the fields of the API's query) that calls the API's report
builder as the API route does.

This module is not called ``router``: a router never imports another router (import-linter).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from linkage_hub.annual.router import annual_report
from linkage_hub.auth.policy import CurrentPrincipal, person_reads
from linkage_hub.console.forms import BlankFieldsAbsent, invalid_form, no_id_number
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.inputs import BoundedDate
from linkage_hub.reports.router import discrepancy_report, staffing_report
from linkage_hub.reports.streaming import ReportFormat
from linkage_hub.reports.tenure_report import build_tenure_report

router = APIRouter(prefix="/console/reports", route_class=BlankFieldsAbsent)


for path, endpoint, refuse_id in (
    ("/staffing", staffing_report, False),
    ("/discrepancies", discrepancy_report, True),
    ("/annual", annual_report, False),
):
    router.add_api_route(
        path,
        endpoint,
        dependencies=[Depends(no_id_number)] if refuse_id else None,
        methods=["GET"],
        include_in_schema=False,
        response_class=Response,
        response_model=None,
        name=f"console_{endpoint.__name__}",  # url_for keeps finding the API's own
    )


class TenureForm(BaseModel):
    """The tenure report's query (``GET /api/v1/reports/tenure``), posted."""

    model_config = ConfigDict(populate_by_name=True)

    id_number: str = Field(max_length=40)
    unit_code: str = Field(max_length=18)
    from_: BoundedDate | None = Field(default=None, alias="from")
    to: BoundedDate | None = None
    format: ReportFormat = ReportFormat.json
    mask: bool = False


Posted = Annotated[str, Form(max_length=40)]


@router.post(
    "/tenure",
    include_in_schema=False,
    response_class=Response,
    response_model=None,
    name="console_tenure",
)
def tenure_download(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: SettingsDep,
    keyring: KeyringDep,
    id_number: Posted = "",
    unit_code: Posted = "",
    from_: Annotated[str, Form(alias="from", max_length=40)] = "",
    to: Posted = "",
    format: Posted = "",
    mask: Posted = "",
) -> Response:
    """The tenure report for the leader whose ID number the form posts (blank fields: the
    API's defaults)."""
    sent = {"id_number": id_number, "unit_code": unit_code, "from": from_, "to": to}
    sent |= {"format": format, "mask": mask}
    try:
        form = TenureForm.model_validate({k: v for k, v in sent.items() if v != ""})
    except ValidationError as exc:
        raise invalid_form(exc) from None
    return build_tenure_report(
        session,
        keyring,
        settings,
        principal,
        person_reads(request),
        id_number=form.id_number,
        unit_code=form.unit_code,
        from_=form.from_,
        to=form.to,
        format=form.format,
        mask=form.mask,
    )
