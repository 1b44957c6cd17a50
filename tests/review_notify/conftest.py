"""Fixtures of the public and notification suites, reused by the review's tests."""

from tests.notifications.conftest import receiver, settings  # noqa: F401
from tests.public.conftest import city, province_served, publish  # noqa: F401
