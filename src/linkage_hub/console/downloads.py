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

This module is not called ``router``: a router never imports another router (import-linter).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from linkage_hub.annual.router import annual_report
from linkage_hub.console.forms import BlankFieldsAbsent
from linkage_hub.reports.router import discrepancy_report, staffing_report, tenure_report

router = APIRouter(prefix="/console/reports", route_class=BlankFieldsAbsent)

for path, endpoint in (
    ("/staffing", staffing_report),
    ("/discrepancies", discrepancy_report),
    ("/tenure", tenure_report),
    ("/annual", annual_report),
):
    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        include_in_schema=False,
        response_class=Response,
        response_model=None,
        name=f"console_{endpoint.__name__}",  # url_for keeps finding the API's own
    )
