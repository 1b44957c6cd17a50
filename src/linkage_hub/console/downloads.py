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

One difference more: the problem list takes no ``id_number`` (a 422, as the findings page):
an ID number in a console address stays in the browser's history and in a ``next=`` after a
session ends. A person's findings are on the person search, which posts the number. The
tenure report needs one and still takes it in the address (to be made a posted form).

This module is not called ``router``: a router never imports another router (import-linter).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from linkage_hub.annual.router import annual_report
from linkage_hub.console.forms import BlankFieldsAbsent
from linkage_hub.errors import FieldError, InvalidInput
from linkage_hub.reports.router import discrepancy_report, staffing_report, tenure_report

router = APIRouter(prefix="/console/reports", route_class=BlankFieldsAbsent)


def no_id_number(id_number: Annotated[str | None, Query(include_in_schema=False)] = None) -> None:
    if id_number is not None:
        raise InvalidInput(
            "ID numbers do not go into console addresses; search on /console/persons.",
            errors=[FieldError(field="id_number", code="not_here", message="not accepted here")],
        )


for path, endpoint, refuse_id in (
    ("/staffing", staffing_report, False),
    ("/discrepancies", discrepancy_report, True),
    ("/tenure", tenure_report, False),
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
