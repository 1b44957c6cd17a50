"""Command-line commands of this domain, registered into ``linkage-hub``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this domain's sub-commands (each sets ``handler(args, settings) -> int``)."""
