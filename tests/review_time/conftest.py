from tests.records.conftest import push, read

__all__ = ["push", "read"]
