#!/usr/bin/env python3
"""What masking costs: a masked download's rows, and hostile text through the log masker.

In one process, best of ``--repeat`` rounds each (the machine is shared: compare the ratios):

1. ``--rows`` discrepancy-report rows (generated: a person finding each, a tenth of them with a
   unit name that quotes an ID number in groups) through :func:`privacy.masking.mask_record`,
   against the baseline of masking only their ``id_number`` fields (what ``mask=true`` did
   before free text was masked) and against writing the same rows as CSV (what a download
   does with each row anyway);
2. 100 KB of digits and separators (runs of one, two and three digits, spaced groups) through
   :func:`identifiers.mask_id_numbers_in`, which every log line and every free text passes: a
   run of single digits took seconds before the masker skipped windows that cannot open a
   number.

    .venv/bin/python bench/masking.py
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from linkage_hub.identifiers import mask_citizen_id, mask_id_numbers_in  # noqa: E402
from linkage_hub.privacy.masking import ID_FIELDS, mask_record  # noqa: E402

NOW = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
HOSTILE = [
    *("1 ", "12 ", "123 - ", "1234567 ", "230102 19900101 1234 "),
    # long runs of separators between digits, and the separators added on 2026-12-07
    *("1" + " " * 40, "12.3/4，5\u00ad", "230102.19900101/1234，"),
]


def rows(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        unit = f"哈尔滨市第{i % 97}中学" + (" 举报人 230102 19900101 1234" if i % 10 == 0 else "")
        out.append(
            {
                "id": f"{i:032x}",
                "rule": "PAID_WITHOUT_ESTABLISHMENT",
                "rule_title_zh": "有薪无编",
                "severity": "critical",
                "status": "open",
                "region": "230102",
                "unit_code": "11230100MA0000006G",
                "unit_name": unit,
                "id_number": f"2301021990{i % 10_000:04d}1234",
                "name": "张三",
                "establishment_type": "administrative",
                "level": None,
                "departments": ["finance"],
                "first_seen_at": NOW,
                "last_seen_at": NOW,
                "resolved_at": None,
                "responsible_department": None,
                "due_on": None,
                "overdue": False,
                "summary_zh": "2026-10 工资统发有此人，编制实名制系统无此人",
                "summary_en": "paid in 2026-10 with no roster entry",
            }
        )
    return out


def ids_only(record: dict[str, Any]) -> dict[str, Any]:
    masked = dict(record)
    for name in ID_FIELDS:
        value = masked.get(name)
        if isinstance(value, str):
            masked[name] = mask_citizen_id(value)
    return masked


def as_csv(records: list[dict[str, Any]]) -> None:
    writer = csv.writer(io.StringIO())
    for r in records:
        writer.writerow(r.values())


def best(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = rows(args.rows)
    per_row = 1e6 / args.rows
    base = best(args.repeat, lambda: [ids_only(r) for r in data]) * per_row
    masked = best(args.repeat, lambda: [mask_record(r) for r in data]) * per_row
    written = best(args.repeat, lambda: as_csv(data)) * per_row
    print(f"| {args.rows:,} discrepancy rows | µs a row | ÷ ID fields only | ÷ CSV row |")
    print("|---|---:|---:|---:|")
    print(f"| ID fields only (baseline) | {base:.2f} | 1.0 × | {base / written:.2f} × |")
    ratios = f"{masked / base:.1f} × | {masked / written:.2f} ×"
    print(f"| every free-text field | {masked:.2f} | {ratios} |")
    print(f"| written as CSV | {written:.2f} | {written / base:.1f} × | 1.0 × |")
    print()
    print("| 100 KB of | seconds | masked |")
    print("|---|---:|---|")
    for unit in HOSTILE:
        text = unit * (100_000 // len(unit))
        seconds = best(args.repeat, lambda text=text: mask_id_numbers_in(text))
        changed = "yes" if mask_id_numbers_in(text) != text else "no"
        print(f"| `{unit!r}` repeated | {seconds:.3f} | {changed} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
