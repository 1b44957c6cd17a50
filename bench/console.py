#!/usr/bin/env python3
"""The console's pages at province size (issue 19: p95 ≤ 200 ms on a million-person province).

Generates the reconciliation benchmark's province (``--persons``, default 1,000,000), its person
keys made with a fixed bench ID key the way the hub makes them (an HMAC of the ID number), so a
person search finds the person; loads it into PostgreSQL and SQLite and, per database:

1. runs a full reconciliation of the chosen county (an establishment office's own run), then
   one of the province (both timed), so findings and runs exist (PostgreSQL is then analysed,
   as autovacuum does within a minute of the run's writes);
2. creates two console accounts — audit at the province 230000 and the establishment office
   of a county holding data — and signs each in through ``POST /console/login`` on its own
   TestClient (cookie jar; the CSRF token is read from a page);
3. times, for each account, in-process (no network), ``/health/live`` (the floor) and every
   console page: the overview, the findings list, its second page (the cursor link), the list
   filtered by the account's most frequent rule, finding details (one finding per rule of the
   county, in turn), the county's unit with most findings, a person search (``POST
   /console/persons`` for the county's person with most findings), the run history, a run,
   the reports page and the annual audit of that unit for this year (JSON and XLSX, the API's
   own endpoint mounted for people): median and p95 of ``--requests`` each (fewer for a page
   slower than ``SLOW_BUDGET`` seconds in all), against the floor; PASS when p95 ≤ 200 ms.

A page whose route is not installed (yet) is reported as "not built"; a page answering an
error is reported with its status, and the run goes on. A page that misses the goal is then
requested once more with its SQL statements timed, and the slowest statement's plan printed
(``EXPLAIN ANALYZE`` on PostgreSQL, ``EXPLAIN QUERY PLAN`` on SQLite). ``--keep`` leaves the
databases behind for a closer look.

    .venv/bin/python bench/console.py --persons 100000
    .venv/bin/python bench/console.py --results      # 1 M persons, both databases
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import reconcile as prov  # bench/reconcile.py: the province generator and loaders
from ingest import create_pg_database
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from httpx import Response  # noqa: E402

from linkage_hub.app import create_app  # noqa: E402
from linkage_hub.auth.policy import served_routes  # noqa: E402
from linkage_hub.auth.users import create_user  # noqa: E402
from linkage_hub.ciphers import Algorithm, KeyVersion  # noqa: E402
from linkage_hub.db import Database  # noqa: E402
from linkage_hub.keys import Keyring, KeySet  # noqa: E402
from linkage_hub.migrations import upgrade  # noqa: E402
from linkage_hub.settings import Settings  # noqa: E402
from linkage_hub.versioning import region_bounds  # noqa: E402

TITLE = "## The console (bench/console.py)"
PROVINCE = prov.PROVINCE
# The county of unit 0: the generator plants its problems on the persons of every 100th unit,
# unit 0 among them (and it is a parent over its internal-unit limit).
COUNTY = prov.county(0)
GOAL = 0.200  # seconds, p95
YEAR = dt.date.today().year  # the annual report's year: January to today
SLOW_BUDGET = 30.0  # seconds of timed requests per page at most (then fewer than --requests)
PASSWORD = "bench console password"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
NEXT = re.compile(r'<a href="([^"]*cursor=[^"]*)" rel="next"')
# A fixed ID key (bench only): the generator keys persons with it, the app reads it.
ID_KEYS = KeySet(1, {1: KeyVersion(1, Algorithm.aes_256_gcm, b"linkage-hub console bench key!!!")})


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=url,
        data_dir=data_dir,
        signing_key="bench-signing-key-" + "x" * 32,
        record_key_secret="bench-record-key-" + "x" * 32,
        id_keys=ID_KEYS.dumps(),
        reconcile_on_write=False,
        bulletin_cron=None,
        deliver_in_process=False,
        log_level="WARNING",
    )


def generate(persons: int) -> prov.Province:
    """The province with the hub's person keys (the generator's own are an unkeyed MD5)."""
    with tempfile.TemporaryDirectory(prefix="lh-bench-console-keys-") as work:
        keyring = Keyring(settings_for("sqlite://", Path(work)))
    prov.pkey = keyring.person_key  # generate() looks pkey up at each call
    return prov.generate(persons)


# --- the data the pages are asked about -----------------------------------------------------


@dataclass
class Account:
    label: str
    username: str
    department: str
    region: str


@dataclass
class Targets:
    """Real ids to ask for, read from the findings the run wrote."""

    findings: int
    live: int
    finding_ids: list[str]
    unit_code: str
    id_number: str
    run_ids: dict[str, str]  # region → the run of that region
    rules: dict[str, tuple[str, int]]  # account region → (its most frequent rule, count)
    visible: dict[str, int]  # account region → findings it can read


def targets(db: Database, county: str, regions: list[str]) -> Targets:
    with db.engine.connect() as conn:
        findings, live = conn.execute(
            text(
                "SELECT COUNT(*), COUNT(CASE WHEN status <> 'resolved' THEN 1 END) "
                "FROM reconciliation_finding"
            )
        ).one()
        ids = list(
            conn.execute(
                text(
                    "SELECT MIN(id) FROM reconciliation_finding WHERE region = :c "
                    "GROUP BY rule ORDER BY rule"
                ),
                {"c": county},
            ).scalars()
        )
        unit = conn.execute(
            text(
                "SELECT f.unit_code FROM reconciliation_finding f JOIN registry_unit u "
                "ON u.unit_code = f.unit_code AND u.closed_at IS NULL "
                "WHERE f.region = :c GROUP BY f.unit_code ORDER BY COUNT(*) DESC, f.unit_code "
                "LIMIT 1"
            ),
            {"c": county},
        ).scalar_one()
        person = conn.execute(
            text(
                "SELECT person_key FROM reconciliation_finding WHERE region = :c "
                "AND person_key IS NOT NULL GROUP BY person_key "
                "ORDER BY COUNT(*) DESC, person_key LIMIT 1"
            ),
            {"c": county},
        ).scalar_one()
        number = conn.execute(
            text(
                " UNION ALL ".join(
                    f"SELECT id_number FROM {t} WHERE person_key = :k AND closed_at IS NULL"
                    for t in ("records_roster", "records_employment", "records_payroll")
                )
            ),
            {"k": person},
        ).first()
        runs = {
            str(region): str(run_id)
            for region, run_id in conn.execute(
                text("SELECT region, id FROM reconciliation_run ORDER BY seq")
            )
        }
        rules, visible = {}, {}
        for region in regions:
            lo, hi = region_bounds(region)
            rule, n = conn.execute(
                text(
                    "SELECT rule, COUNT(*) FROM reconciliation_finding "
                    "WHERE region BETWEEN :lo AND :hi GROUP BY rule ORDER BY COUNT(*) DESC, rule "
                    "LIMIT 1"
                ),
                {"lo": lo, "hi": hi},
            ).one()
            rules[region] = (str(rule), int(n))
            visible[region] = conn.execute(
                text(
                    "SELECT COUNT(*) FROM reconciliation_finding WHERE region BETWEEN :lo AND :hi"
                ),
                {"lo": lo, "hi": hi},
            ).scalar_one()
    assert number is not None, "the person with findings has no current record"
    return Targets(
        findings=findings,
        live=live,
        finding_ids=[str(i) for i in ids],
        unit_code=str(unit),
        id_number=str(number[0]),
        run_ids=runs,
        rules=rules,
        visible=visible,
    )


# --- timing ---------------------------------------------------------------------------------


@dataclass
class Page:
    name: str
    route: tuple[str, str]  # (method, path template): "not built" when the app lacks it
    send: Callable[[int], Response] | None  # the i-th request; None: nothing to ask (n/a)
    why_not: str = ""


@dataclass
class Timing:
    name: str
    route: str
    state: str  # "ok", "not built", "n/a", "error 500", …
    n: int = 0
    median: float = 0.0
    p95: float = 0.0
    note: str = ""
    slowest_sql: list[tuple[float, str]] = field(default_factory=list)


def percentile95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(int(len(ordered) * 0.95) - 1, 0)]


def time_page(page: Page, n: int, built: set[tuple[str, str]]) -> Timing:
    method, path = page.route
    result = Timing(page.name, f"{method} {path}", "ok")
    if page.route not in built:
        result.state = "not built"
        return result
    if page.send is None:
        result.state, result.note = "n/a", page.why_not
        return result
    warm = []
    for i in range(3):
        start = time.perf_counter()
        response = page.send(i)
        warm.append(time.perf_counter() - start)
        if response.status_code != 200:
            result.state = f"error {response.status_code}"
            result.note = _first_line(response)
            return result
    count = n
    if min(warm) * n > SLOW_BUDGET:
        count = max(5, int(SLOW_BUDGET / min(warm)))
    samples = []
    for i in range(count):
        start = time.perf_counter()
        response = page.send(i)
        samples.append(time.perf_counter() - start)
        if response.status_code != 200:
            result.state = f"error {response.status_code}"
            result.note = _first_line(response)
            return result
    result.n = count
    result.median = statistics.median(samples)
    result.p95 = percentile95(samples)
    return result


def _first_line(response: Response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.text)
    return " ".join(body.split())[:160]


@contextmanager
def sql_timer() -> Iterator[list[tuple[float, str, Any]]]:
    """Every statement run while inside, with its duration, statement and parameters."""
    seen: list[tuple[float, str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool):
        conn.info.setdefault("bench_start", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool):
        start = conn.info["bench_start"].pop()
        seen.append((time.perf_counter() - start, statement, params))

    event.listen(Engine, "before_cursor_execute", before)  # every engine (reads and writes)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)


def explain(db: Database, statement: str, params: Any) -> str:
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if db.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(prefix + statement, params)
        rows = cursor.fetchall()
        raw.rollback()
    finally:
        raw.close()
    if db.dialect == "postgresql":
        return "\n".join(str(r[0]) for r in rows)
    return "\n".join(" | ".join(str(v) for v in r) for r in rows)


def diagnose(db: Database, page: Page, timing: Timing) -> None:
    """One more request with every statement timed; the slowest one's plan, printed."""
    assert page.send is not None
    with sql_timer() as seen:
        start = time.perf_counter()
        page.send(0)
        total = time.perf_counter() - start
    seen.sort(key=lambda s: -s[0])
    timing.slowest_sql = [(s, " ".join(q.split())[:300]) for s, q, _ in seen[:3]]
    print(
        f"  diagnosis of {page.name}: {total * 1000:.1f} ms, {len(seen)} statements, "
        f"{sum(s for s, _, _ in seen) * 1000:.1f} ms in SQL"
    )
    for seconds, statement, _ in seen[:3]:
        print(f"    {seconds * 1000:8.1f} ms  {' '.join(statement.split())[:400]}")
    if seen:
        try:
            print("  plan of the slowest:\n" + explain(db, seen[0][1], seen[0][2]))
        except Exception as exc:  # a diagnosis must not lose the run
            print(f"  (no plan: {exc})")


# --- one account's browser ------------------------------------------------------------------


class Browser:
    def __init__(self, app: FastAPI, username: str) -> None:
        self.client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
        response = self.client.post(
            "/console/login",
            data={"username": username, "password": PASSWORD},
            follow_redirects=False,
        )
        assert response.status_code == 303, (response.status_code, response.text[:300])
        self.csrf = ""
        for path in ("/console/", "/console/persons", "/console/runs", "/console/reports"):
            match = CSRF.search(self.client.get(path).text)
            if match:
                self.csrf = match.group(1)
                break

    def get(self, path: str) -> Response:
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, str]) -> Response:
        body = {"csrf_token": self.csrf, **data}
        return self.client.post(path, data=body, follow_redirects=False)


def pages_for(browser: Browser, account: Account, t: Targets, floor: TestClient) -> list[Page]:
    def get(path: str) -> Callable[[int], Response]:
        return lambda _i: browser.get(path)

    page_two: Callable[[int], Response] | None = None
    first = browser.get("/console/findings")
    found = NEXT.search(first.text) if first.status_code == 200 else None
    if found:
        page_two = get(html.unescape(found.group(1)))
    rule, _ = t.rules[account.region]
    ids = t.finding_ids
    run_id = t.run_ids.get(account.region)
    return [
        Page("/health/live (floor)", ("GET", "/health/live"), lambda _i: floor.get("/health/live")),
        Page("overview", ("GET", "/console/"), get("/console/")),
        Page("findings list", ("GET", "/console/findings"), get("/console/findings")),
        Page(
            "findings list, page 2",
            ("GET", "/console/findings"),
            page_two,
            "no second page" if first.status_code == 200 else f"list {first.status_code}",
        ),
        Page(
            f"findings, rule={rule}",
            ("GET", "/console/findings"),
            get(f"/console/findings?rule={rule}"),
        ),
        Page(
            f"finding detail ({len(ids)} findings in turn)",
            ("GET", "/console/findings/{finding_id}"),
            lambda i: browser.get(f"/console/findings/{ids[i % len(ids)]}"),
        ),
        Page(
            "unit (12 months + findings)",
            ("GET", "/console/units/{unit_code}"),
            get(f"/console/units/{t.unit_code}"),
        ),
        Page(
            "person search",
            ("POST", "/console/persons"),
            lambda _i: browser.post("/console/persons", {"id_number": t.id_number}),
        ),
        Page("runs list", ("GET", "/console/runs"), get("/console/runs")),
        Page(
            "a run",
            ("GET", "/console/runs/{run_id}"),
            get(f"/console/runs/{run_id}") if run_id else None,
            "no run of this region",
        ),
        Page("reports", ("GET", "/console/reports"), get("/console/reports")),
        *(
            Page(
                f"annual audit of the unit ({fmt})",
                ("GET", "/console/reports/annual"),
                get(f"/console/reports/annual?unit_code={t.unit_code}&year={YEAR}&format={fmt}"),
            )
            for fmt in ("json", "xlsx")
        ),
    ]


def built_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every installed route (the policy's own walk of them)."""
    return served_routes(app) | {("GET", "/health/live")}


# --- one database ---------------------------------------------------------------------------


def run_backend(
    backend: str, province: prov.Province, work: Path, n: int, keep: bool
) -> dict[str, Any]:
    if backend == "postgres":
        url, admin = create_pg_database(prov.PG_ADMIN)
    else:
        url, admin = f"sqlite:///{work / 'console.db'}", None
    try:
        settings = settings_for(url, work)
        upgrade(settings)
        start = time.perf_counter()
        (prov.load_postgres if backend == "postgres" else prov.load_sqlite_url)(url, province)
        load = time.perf_counter() - start
        print(f"{backend}: loaded in {load:.0f} s", flush=True)
        db = Database(settings)
        county_run, _ = prov.time_run(db, region=COUNTY)
        province_run, figures = prov.time_run(db)
        print(f"{backend}: county run {county_run:.1f} s, province run {province_run:.1f} s")
        if backend == "postgres":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        accounts = [
            Account("audit, province", "bench.audit", "audit", PROVINCE),
            Account("establishment, county", "bench.office", "establishment", COUNTY),
        ]
        with db.transaction() as session:
            for a in accounts:
                create_user(
                    session,
                    username=a.username,
                    name=f"bench {a.label}",
                    department=a.department,
                    region=a.region,
                    password=PASSWORD,
                )
        t = targets(db, COUNTY, [a.region for a in accounts])
        print(f"{backend}: {t}", flush=True)
        app = create_app(settings, database=db)
        built = built_routes(app)
        timings: dict[str, list[Timing]] = {}
        with TestClient(app, base_url="http://127.0.0.1") as floor:
            for account in accounts:
                browser = Browser(app, account.username)
                pages = pages_for(browser, account, t, floor)
                rows = []
                for page in pages:
                    timing = time_page(page, n, built)
                    rows.append(timing)
                    print(f"{backend} | {account.label} | {_line(timing)}", flush=True)
                    if timing.state == "ok" and timing.p95 > GOAL and "floor" not in page.name:
                        diagnose(db, page, timing)
                timings[account.label] = rows
        db.dispose()
        if keep:
            print(f"{backend}: kept {url}")
        return {
            "backend": backend,
            "load": load,
            "county_run": county_run,
            "province_run": province_run,
            "run_counts": figures["counts"],
            "targets": t,
            "timings": timings,
        }
    finally:
        if admin is not None and not keep:
            admin()


def _line(t: Timing) -> str:
    if t.state != "ok":
        return f"{t.name}: {t.state} {t.note}"
    verdict = "PASS" if t.p95 <= GOAL else "FAIL"
    return f"{t.name}: n={t.n} median {t.median * 1000:.1f} ms p95 {t.p95 * 1000:.1f} ms {verdict}"


# --- the report -----------------------------------------------------------------------------


def report(results: list[dict[str, Any]], persons: int, command: str) -> str:
    first = results[0]
    t: Targets = first["targets"]
    lines = [
        TITLE,
        "",
        f"`{command}` — {dt.date.today()}, {persons:,} persons, {t.findings:,} findings "
        f"({t.live:,} live) after a full run of the county {COUNTY} and then of the province "
        f"{PROVINCE}. Two people signed in through `POST /console/login`: audit at the province "
        f"(reads {t.visible[PROVINCE]:,} findings) and the establishment office of {COUNTY} "
        f"(reads {t.visible[COUNTY]:,}). Requests in-process (TestClient, no network), median "
        f"and p95 of n each, against `/health/live` on the same app; goal p95 ≤ "
        f"{GOAL * 1000:.0f} ms.",
        "",
        "| database | load | county run | province run |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['load']:.0f} s | {r['county_run']:.1f} s | "
            f"{r['province_run']:.1f} s |"
        )
    lines += [
        "",
        "| database | account | page | n | median | p95 | median ÷ /health/live | p95 ≤ 200 ms |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        for account, rows in r["timings"].items():
            floor = rows[0].median if rows and rows[0].state == "ok" else None
            for row in rows:
                if row.state != "ok":
                    lines.append(
                        f"| {r['backend']} | {account} | {row.name} | – | – | – | – | {row.state} |"
                    )
                    continue
                ratio = f"{row.median / floor:.1f} ×" if floor else "–"
                verdict = "–" if "floor" in row.name else "PASS" if row.p95 <= GOAL else "FAIL"
                lines.append(
                    f"| {r['backend']} | {account} | {row.name} | {row.n} | "
                    f"{row.median * 1000:.1f} ms | {row.p95 * 1000:.1f} ms | {ratio} | "
                    f"{verdict} |"
                )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--results", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args()
    start = time.perf_counter()
    province = generate(args.persons)
    print(f"generated in {time.perf_counter() - start:.0f} s", flush=True)
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        if args.keep:
            work = Path(tempfile.mkdtemp(prefix="lh-bench-console-"))
            results.append(run_backend(backend, province, work, args.requests, True))
        else:
            with tempfile.TemporaryDirectory(prefix="lh-bench-console-") as folder:
                results.append(run_backend(backend, province, Path(folder), args.requests, False))
    command = "python bench/console.py " + " ".join(sys.argv[1:])
    section = report(results, args.persons, command.strip())
    print(section)
    if args.results:
        prov.write_results(section, TITLE)
        print("wrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
