"""API4/API2: one host cannot take a fresh per-address share with each address of its IPv6
network.

Every per-address limit (the public line's windows, the token and console sign-in lockouts,
the admission share) counted each source address. A host is given a whole /64 (a home line, a
cloud VM), so with IPv6 it could send each request from another address: the public
requests a minute, the 12310 reports an hour and the 20-failure address lock never filled.
Now they count an IPv6 address's /64 (:func:`linkage_hub.clientaddr.limit_key`), and an
IPv4-mapped address as its IPv4 address."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.auth.service import ADDRESS_LOCK_AFTER
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.auth.helpers import new_client, request_token
from tests.conftest import make_settings

NETWORK = "2001:db8:5:6"  # one /64


def at(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, client=(address, 50000))


def test_addresses_of_one_network_share_the_public_window(
    settings: Settings, database: Database
) -> None:
    tight = make_settings(settings.database_url or "", settings.data_dir)
    tight = tight.model_copy(update={"public_requests_per_minute": 3})
    app = create_app(tight, database=database)
    css = "/public/assets/public.css"
    with TestClient(app, raise_server_exceptions=False):  # the app's lifespan, once
        codes = [at(app, f"{NETWORK}::{n:x}").get(css).status_code for n in range(1, 6)]
        assert codes == [200, 200, 200, 429, 429], codes
        # The next /64 is a household of its own.
        assert at(app, "2001:db8:5:7::1").get(css).status_code == 200
        four = at(app, "198.51.100.20")
        assert [four.get(css).status_code for _ in range(3)] == [200] * 3
        assert at(app, "::ffff:198.51.100.20").get(css).status_code == 429  # the same host


def test_token_guesses_from_one_network_lock_it(app: FastAPI, database: Database) -> None:
    client_id, secret = new_client(database)
    with TestClient(app, raise_server_exceptions=False):  # the app's lifespan, once
        for n in range(ADDRESS_LOCK_AFTER):
            guesser = at(app, f"{NETWORK}::{n + 1:x}")
            assert request_token(guesser, f"lhc_spray{n}", "lhs_guess").status_code == 401
        fresh = at(app, f"{NETWORK}:ffff:ffff:ffff:ffff")
        assert request_token(fresh, "lhc_fresh", "lhs_guess").status_code == 429
        assert request_token(fresh, client_id, secret).status_code == 429
        department = at(app, "2001:db8:5:7::1")  # another network keeps its tokens
        assert request_token(department, client_id, secret).status_code == 200
