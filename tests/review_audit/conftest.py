from tests.reports.conftest import push, read, unit  # noqa: F401
