"""Fixtures of the console review: the console's signed-in people and the API pushes."""

from tests.console.conftest import console_as, demo_city
from tests.records.conftest import push, read
from tests.security.conftest import city, province_served, publish, regions

__all__ = [
    "city",
    "console_as",
    "demo_city",
    "province_served",
    "publish",
    "push",
    "read",
    "regions",
]
