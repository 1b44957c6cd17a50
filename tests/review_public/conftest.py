"""Review of the public face (see the report in the commit message)."""

from tests.public.conftest import city, province_served, publish

__all__ = ["city", "province_served", "publish"]
