from fastapi import FastAPI

from linkage_hub.auth.policy import ROUTE_POLICY, served_routes


class TestNoUnguardedRoute:
    def test_the_walk_sees_included_routers(self, app: FastAPI) -> None:
        assert ("GET", "/health/ready") in served_routes(app)

    def test_every_route_has_a_policy_row(self, app: FastAPI) -> None:
        assert served_routes(app) - set(ROUTE_POLICY) == set()

    def test_no_policy_row_without_a_route(self, app: FastAPI) -> None:
        assert set(ROUTE_POLICY) - served_routes(app) == set()
