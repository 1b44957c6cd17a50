from tests.public.conftest import city, province_served, publish
from tests.records.conftest import push, read
from tests.security.regions import regions

__all__ = ["city", "province_served", "publish", "push", "read", "regions"]
from tests.console.conftest import console_as

__all__ += ["console_as"]
