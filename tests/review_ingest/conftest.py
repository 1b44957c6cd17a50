from tests.records.conftest import deferred, direct, push, read  # noqa: F401
