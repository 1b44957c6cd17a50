"""The standing attack suite (OWASP API Security Top 10, 2023): see README.md beside it.

Tests here attack the hub through its HTTP API as a department would, on SQLite and
PostgreSQL, with the fixtures of ``tests/conftest.py``. Each file names the OWASP item it covers.
"""

from tests.public.conftest import city, province_served, publish
from tests.records.conftest import push, read
from tests.security.regions import regions

__all__ = ["city", "province_served", "publish", "push", "read", "regions"]
