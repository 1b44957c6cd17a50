#!/bin/sh
# Long schemathesis run: every operation, every department, >= 500 examples per operation and
# generation mode (positive and negative). Arguments go to bench/fuzz.py (--examples N,
# --postgres URL, --operation ID).
set -eu
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/fuzz.py "$@"
