"""The console's overview takes an ID number in its address (``/console/?id_number=``).

downloads.py and findings.py: "no ID number goes into a console address — it would stay in
the browser's history and in a ``next=`` after a session ends"; the findings list and the
discrepancy download answer ``?id_number=`` with a 422 ("search on /console/persons"). The
overview reads the same ``DiscrepancyFilters`` dependency and never refuses the parameter: it
answers with that one person's live findings (counts by rule, department and unit) — a person
looked up by URL, outside the person search's POST.
"""

from __future__ import annotations

import re

from tests.console.conftest import ConsoleAs
from tests.security.regions import CITY, SPREAD, Regions

LIVE = re.compile(r'id="live-total"><a href="[^"]*"><span class="n">(\d+)</span>')


def test_the_overview_refuses_an_id_number_in_its_address(
    regions: Regions, console_as: ConsoleAs
) -> None:
    officer = console_as("audit", CITY)
    assert officer.get("/console/findings", params={"id_number": SPREAD}).status_code == 422
    overview = officer.get("/console/", params={"id_number": SPREAD})
    region = officer.get("/console/")
    # today: 200, counting that one person's live findings (1) instead of the region's (2)
    assert overview.status_code == 422, (
        overview.status_code,
        LIVE.findall(overview.text),
        LIVE.findall(region.text),
    )
