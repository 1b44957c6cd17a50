"""API8 in the console: list parameters read as the API's route beside them reads them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as

__all__ = ["console_as"]  # the fixture


class TestTheMeetingListsRegion:
    def test_a_region_that_is_no_division_code_is_refused_as_by_the_api(
        self, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """``GET /api/v1/meetings?region=`` reads the region through ``region_input`` (422
        naming it); the console's list hands the raw string to ``service.page``, whose
        ``region_bounds`` turns any text into a range: "abc", "23" or "2301001" list an empty
        (or another) page with 200, as if the region were real."""
        officer = console_as("establishment", "230102")
        for region in ("abc", "23", "2301001", "23010２"):
            api = client.get(
                "/api/v1/meetings",
                params={"region": region},
                headers=headers_for("establishment", "230102"),
            )
            assert api.status_code == 422, region
            page = officer.get("/console/meetings", params={"region": region})
            assert page.status_code == 422, region
