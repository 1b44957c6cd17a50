"""Fixtures of the privacy review: the security suite's regions, pushes and console people."""

from tests.console.conftest import console_as
from tests.public.conftest import city, province_served, publish
from tests.records.conftest import push, read
from tests.security.regions import regions

__all__ = ["city", "console_as", "province_served", "publish", "push", "read", "regions"]
