"""The source address of a request, with and without trusted proxies."""

from __future__ import annotations

from typing import Any

from linkage_hub.clientaddr import forwarded_scheme, source_address


def scope(
    peer: str | None, forwarded: str | None = None, proto: str | None = None
) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    if proto is not None:
        headers.append((b"x-forwarded-proto", proto.encode()))
    return {"client": (peer, 5000) if peer else None, "headers": headers, "scheme": "http"}


class TestSourceAddress:
    def test_the_peer_without_proxies(self) -> None:
        assert source_address(scope("10.0.0.7", "1.2.3.4")) == "10.0.0.7"

    def test_a_header_from_an_untrusted_peer_is_ignored(self) -> None:
        assert source_address(scope("10.0.0.7", "1.2.3.4"), ["192.168.0.0/16"]) == "10.0.0.7"

    def test_the_first_untrusted_hop_from_the_right(self) -> None:
        # client 1.2.3.4 → proxy 192.168.1.2 → proxy 192.168.1.1 (the peer)
        got = source_address(
            scope("192.168.1.1", "9.9.9.9, 1.2.3.4, 192.168.1.2"), ["192.168.0.0/16"]
        )
        assert got == "1.2.3.4"

    def test_only_trusted_hops_gives_the_peer(self) -> None:
        assert (
            source_address(scope("192.168.1.1", "192.168.1.2"), ["192.168.0.0/16"]) == "192.168.1.1"
        )

    def test_garbage_behind_a_trusted_proxy_is_unknown(self) -> None:
        assert source_address(scope("192.168.1.1", "not-an-ip"), ["192.168.1.1"]) == "unknown"

    def test_no_client_at_all(self) -> None:
        assert source_address(scope(None)) == "unknown"


class TestForwardedScheme:
    def test_the_requests_own_without_proxies(self) -> None:
        assert forwarded_scheme(scope("10.0.0.7", proto="https")) == "http"

    def test_a_header_from_an_untrusted_peer_is_ignored(self) -> None:
        assert forwarded_scheme(scope("10.0.0.7", proto="https"), ["192.168.0.0/16"]) == "http"

    def test_a_trusted_proxy_names_it(self) -> None:
        assert forwarded_scheme(scope("192.168.1.1", proto="HTTPS"), ["192.168.0.0/16"]) == "https"

    def test_the_nearest_proxys_word_counts(self) -> None:
        got = forwarded_scheme(scope("192.168.1.1", proto="http, https"), ["192.168.1.1"])
        assert got == "https"
        got = forwarded_scheme(scope("192.168.1.1", proto="https, http"), ["192.168.1.1"])
        assert got == "http"

    def test_anything_but_http_or_https_is_the_requests_own(self) -> None:
        for said in ("javascript", "", "https x"):
            assert forwarded_scheme(scope("192.168.1.1", proto=said), ["192.168.1.1"]) == "http"

    def test_no_client_at_all(self) -> None:
        assert forwarded_scheme(scope(None, proto="https"), ["192.168.1.1"]) == "http"


def test_limits_count_an_ipv6_address_by_its_network() -> None:
    from linkage_hub.clientaddr import limit_key

    assert limit_key("2001:db8:5:6::1") == limit_key("2001:db8:5:6:ffff:ffff:ffff:ffff")
    assert limit_key("2001:db8:5:6::1") == "2001:db8:5:6::/64"
    assert limit_key("2001:db8:5:7::1") != limit_key("2001:db8:5:6::1")
    assert limit_key("::ffff:198.51.100.20") == "198.51.100.20"
    assert limit_key("198.51.100.20") == "198.51.100.20"
    assert limit_key("198.51.100.21") != limit_key("198.51.100.20")
    assert limit_key("unknown") == "unknown"
    assert limit_key("fe80::1%eth0") in {"fe80::/64", "fe80::1%eth0"}  # scoped: never an error
