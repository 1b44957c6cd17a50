"""Settings, read once from ``LINKAGE_``-prefixed environment variables.

Without ``LINKAGE_DATABASE_URL`` the hub keeps an embedded SQLite file (``linkage-hub.db``) in
``LINKAGE_DATA_DIR`` (default: the working directory). Generated keys live beside it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from linkage_hub.ciphers import Algorithm
from linkage_hub.cron import CronSchedule
from linkage_hub.identifiers import IdentifierError, normalise_region

# The shortest secret given as a string: the token signing key's seed (linkage_hub.auth.tokens)
# and the record, audit and webhook keys (HMAC keys: a short one is guessed offline).
SECRET_MIN_CHARACTERS = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINKAGE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    data_dir: Path = Field(
        default_factory=Path.cwd, description="Home of the SQLite file and keys."
    )
    timezone: str = "Asia/Shanghai"
    log_level: str = Field(
        default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)."
    )
    sqlite_busy_timeout_ms: int = 30_000
    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections one hub process keeps open; as many more may open "
        "at a peak.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (addresses or networks, JSON list) whose X-Forwarded-For "
        "names the client's address and whose X-Forwarded-Proto the scheme the browser used "
        "(a proxy that ends TLS: https); from anyone else the headers are ignored.",
    )

    # Operators' listener (issue 13): metrics and readiness off the departments' port
    ops_port: int | None = Field(
        default=None,
        gt=0,
        lt=65536,
        description="Serve /metrics and /health/* on this port of their own (and /health/live "
        "also on the main port; /metrics and /health/ready there answer 404). Unset: all on "
        "the main port.",
    )
    ops_host: str | None = Field(
        default=None,
        description="The address the operators' port listens on (default: serve's --host).",
    )

    # Authentication (issue 3)
    jwt_issuer: str = "linkage-hub"
    jwt_audience: str = "linkage-hub-api"
    token_ttl_seconds: int = Field(default=900, le=900, gt=0)
    signing_key: str | None = Field(
        default=None,
        description="Token signing key (ES256): a PEM EC P-256 private key, or a random string of "
        "32+ characters the key is derived from; generated beside the DB if unset.",
    )
    client_cache_seconds: float = Field(
        default=30, ge=0, le=60, description="How long a process trusts a client's active flag."
    )
    access_record_flush_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often buffered access records are written."
    )
    record_key_secret: str | None = Field(
        default=None,
        description="Secret behind opaque record keys (32+ characters); generated if unset.",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="Key of the audit log's entry MACs (HMAC-SHA256 over each entry's seq and "
        "hash); generated beside the database if unset. Every process and `linkage-hub "
        "migrate` need the same; lost, the log no longer verifies. It is audit key version 1; "
        "for more versions (a rotation) set LINKAGE_AUDIT_KEYS instead.",
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="The versioned audit key set (JSON, like the ID keys'); default "
        "linkage-hub.audit-keys.json beside the database, written by `linkage-hub audit-log "
        "rotate-key` (until then the single key of linkage-hub.audit.key is version 1).",
    )
    audit_keys: SecretStr | None = Field(
        default=None,
        description="The audit key set JSON itself (from a secret store); never written to "
        "disk. Not together with LINKAGE_AUDIT_KEY.",
    )

    # Datasets (issue 4)
    max_body_bytes: int = 512 * 1024 * 1024
    max_batch_rows: int = 2_000_000
    max_error_rows: int = 1_000

    # Request body caps by route, enforced before authentication (issue 12; batches above)
    token_body_bytes: int = Field(default=4 * 1024, gt=0, description="POST /oauth/token.")
    record_body_bytes: int = Field(default=1024 * 1024, gt=0, description="A single record.")
    comment_body_bytes: int = Field(
        default=64 * 1024, gt=0, description="A discrepancy's comment or transition."
    )
    json_body_bytes: int = Field(default=1024 * 1024, gt=0, description="Any other body.")
    # A body's deadlines: a slow or stalled one cannot hold a slot (linkage_hub.bodylimits)
    body_idle_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="A request body of which nothing arrives for this many seconds while the "
        "hub waits for it is answered 408 (the connection closed, nothing applied), freeing its "
        "slot of LINKAGE_MAX_IN_FLIGHT.",
    )
    body_min_bytes_per_second: int = Field(
        default=4096,
        ge=0,
        description="Past its first LINKAGE_BODY_IDLE_SECONDS, a request body must arrive at "
        "this many bytes a second on average (counting the time the hub waits for it), else "
        "408 (0: no minimum). With a route's cap it bounds how long any body may take.",
    )

    # Privacy (issue 7)
    id_cipher: Algorithm = Field(
        default=Algorithm.aes_256_gcm,
        description="Algorithm of new ID key versions: aes-256-gcm (HMAC-SHA256 person keys) "
        "or sm4-gcm (HMAC-SM3 person keys).",
    )
    id_key_file: Path | None = Field(
        default=None,
        description="The versioned ID key set (JSON); default linkage-hub.id-keys.json beside "
        "the database, generated on first start with mode 0600.",
    )
    id_keys: SecretStr | None = Field(
        default=None,
        description="The ID key set JSON itself (from a secret store); never written to disk.",
    )
    mask_exports: bool = Field(
        default=False,
        description="Mask ID numbers (2301**********1234) in every report download.",
    )

    # Reconciliation (issue 5)
    exit_grace_working_days: int = Field(
        default=10,
        ge=0,
        le=366,
        description="Working days a unit has to apply for exit (出编) before LATE_EXIT.",
    )
    holidays: list[dt.date] = Field(default_factory=list)
    run_timeout_seconds: float = Field(
        default=1800.0,
        gt=0,
        le=86_400,
        description="Seconds a reconciliation run may take before it is stopped and failed "
        "(`error_code` `timeout`, its findings left as they were), so a run that hangs (a "
        "statement blocked, a stuck thread) frees its region.",
    )
    schedule_cron: str | None = None
    schedule_regions: list[str] = Field(default_factory=list, validate_default=True)

    # Incremental reconciliation (issue 16)
    reconcile_on_write: bool = Field(
        default=True,
        description="Reconcile what each write touched soon after it commits (incremental "
        "runs of the schedule's regions, else of each province the hub holds records in).",
    )
    reconcile_on_write_delay: float = Field(
        default=0.2,
        ge=0,
        le=60,
        description="Seconds to wait after a write before its incremental run, so a burst of "
        "writes is settled by one run.",
    )
    reconcile_on_write_poll: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Seconds between looks at the change feed for writes made by other hub "
        "processes or the command line.",
    )

    # Notifications (issue 17)
    deliver_in_process: bool = Field(
        default=True,
        description="Run the webhook delivery worker in every hub process (off when "
        "`linkage-hub deliver` runs as a process of its own).",
    )
    webhook_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (names or addresses) a subscription may reach over plain http or "
        "at addresses that are not public (private, loopback, link-local, shared 100.64.0.0/10); "
        "every other target must be public https.",
    )
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    webhook_concurrency: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Receivers a delivery worker sends to at once (each receiver's deliveries "
        "one after the other, in order): a receiver that hangs holds up only its own.",
    )
    webhook_disable_after_days: float = Field(
        default=5.0,
        gt=0,
        description="A subscription whose every attempt failed for this long is disabled "
        "(its owner sees why).",
    )
    idempotency_retention_hours: float = Field(
        default=24.0,
        gt=0,
        description="How long the first answer to a create with an Idempotency-Key is kept "
        "and replayed (batches keep theirs with the batch).",
    )
    webhook_secret_overlap_hours: float = Field(
        default=24.0,
        ge=0,
        description="After a rotation the previous secret signs too, this long.",
    )
    webhook_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between the delivery worker's looks for due deliveries and "
        "events written by other processes.",
    )
    bulletin_cron: str | None = Field(
        default="0 8 1 * *",
        description="When periodic bulletins (the previous calendar month) are published, "
        "hub time zone; empty to publish only by `linkage-hub bulletins publish`.",
    )
    bulletin_overdue_working_days: int = Field(
        default=20,
        ge=1,
        le=250,
        description="A live finding first seen more working days than this before a "
        "bulletin's period ends is counted overdue.",
    )
    webhook_key: SecretStr | None = Field(
        default=None,
        description="The key that seals subscriptions' signing secrets at rest (default: "
        "generated once into the data directory's secrets).",
    )

    # The public face (issue 18): limits that keep the public routes from reaching the API
    public_requests_per_minute: int = Field(
        default=120,
        ge=1,
        description="Public pages and JSON one address may fetch a minute (per hub process); "
        "past it, 429 with Retry-After.",
    )
    public_reports_per_hour: int = Field(
        default=5, ge=1, description="12310 reports one address may file an hour."
    )
    public_reports_per_day: int = Field(
        default=2000,
        ge=1,
        description="12310 reports the hub accepts a day from everyone together (the disk's "
        "cap against a flood); past it, 503 with Retry-After until midnight.",
    )
    public_concurrency: int = Field(
        default=8,
        ge=1,
        description="Public requests one hub process works on at once; more wait for none: "
        "503 with Retry-After, so a flood of them cannot take the departments' workers. One "
        "address holds at most LINKAGE_CALLER_SHARE of them, and once half are taken no more "
        "than an equal split among the addresses in flight.",
    )
    # Backpressure (issue 20): see linkage_hub.loadshed
    max_in_flight: int = Field(
        default=8,
        ge=0,
        description="Requests one hub process works on at once; past it a 503 with "
        "Retry-After at once, before authentication (0: no bound). A caller with nothing in "
        "flight is admitted past it into a reserve of a quarter of it. Health and metrics are "
        "never refused.",
    )
    caller_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="The largest share of LINKAGE_MAX_IN_FLIGHT one caller (a client, or an "
        "address for requests without a known token) may hold, and of "
        "LINKAGE_PUBLIC_CONCURRENCY one address may hold; once half the slots are taken, no "
        "caller may hold more than an equal split among those in flight.",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections one hub process keeps; past it, new requests get a "
        "plain 503 from the server (uvicorn's limit_concurrency).",
    )
    keep_alive_seconds: int = Field(
        default=5,
        ge=1,
        le=300,
        description="An idle keep-alive connection is closed after this long.",
    )
    ingest_processes: int = Field(
        default=1,
        ge=0,
        le=64,
        description="Worker processes (per hub process) that check and encrypt the rows of "
        "large NDJSON and CSV pushes, so a push does not hold the serving process's "
        "interpreter (0: check in the request's own thread).",
    )
    public_body_bytes: int = Field(
        default=32_768, ge=1024, description="The largest body of a public request."
    )
    public_body_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A public request's body (a 12310 form) must arrive within this many "
        "seconds, else 408; it is read before the request takes a public slot.",
    )

    # The console (issue 19): people signed in from a browser
    console_idle_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="A console session unused this long ends (sign in again).",
    )
    console_session_hours: int = Field(
        default=12, ge=1, le=7 * 24, description="A console session ends this long after sign-in."
    )
    console_secure_cookie: bool | None = Field(
        default=None,
        description="Mark the console's cookie Secure (sent over https only). Unset: Secure "
        "unless the hub is reached as localhost or a loopback address over plain http.",
    )

    @field_validator("bulletin_cron", "schedule_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        # Checked here, not when a scheduler thread starts: in `serve` that was a traceback,
        # and every other command accepted the expression.
        expression = value.strip() or None if value else None
        if expression is not None:
            CronSchedule.parse(expression).next_after(dt.datetime(2000, 1, 1))  # ever matches
        return expression

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[dt.date]) -> list[dt.date]:
        # Part of every run's parameters, compared as text with a region's watermark: two
        # processes listing the same days in another order would read every region in full.
        return sorted(set(value))

    @field_validator("schedule_regions")
    @classmethod
    def _schedule_regions(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # A schedule with no regions ran nothing and said nothing; a mistyped region failed
        # only at the scheduled hour. (Whether a region exists is the run's to say: it needs
        # the registry.)
        regions = []
        for region in value:
            try:
                regions.append(normalise_region(region))
            except IdentifierError as exc:
                raise ValueError(f"{region!r}: {exc.message}") from None
        if info.data.get("schedule_cron") and not regions:
            raise ValueError("is empty, so LINKAGE_SCHEDULE_CRON would reconcile no region")
        return regions

    @field_validator("record_key_secret", "audit_key", "webhook_key")
    @classmethod
    def _long_secret(cls, value: str | SecretStr | None) -> str | SecretStr | None:
        # Any non-empty string was taken: with "a" as the record key secret, anyone holding a
        # record key (every department, every webhook payload) could brute-force the ID number
        # behind it; a guessable audit key lets whoever writes the database forge the log's
        # MACs, a guessable webhook key opens every subscription's secret. An empty one (a bare
        # `LINKAGE_AUDIT_KEY=`) silently fell back to a generated file.
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        if secret is not None and len(secret) < SECRET_MIN_CHARACTERS:
            raise ValueError(
                f"must be a random string of at least {SECRET_MIN_CHARACTERS} characters "
                "(unset, one is generated beside the database)"
            )
        return value

    @field_validator("audit_keys")
    @classmethod
    def _one_audit_key_source(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        # Two sources of version 1 would let processes disagree on which one MACs the log.
        if value is not None and info.data.get("audit_key") is not None:
            raise ValueError(
                "is set together with LINKAGE_AUDIT_KEY: put that key in the set as version 1 "
                "and unset LINKAGE_AUDIT_KEY"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        # Parsed again for every request (linkage_hub.clientaddr): a typo must stop the start,
        # not make every request that needs the client's address fail.
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an address or network") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except ZoneInfoNotFoundError:  # a KeyError, which pydantic would let through
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        # The levels both logging and uvicorn know (uvicorn has no WARN, logging no TRACE)
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def is_embedded(self) -> bool:
        return self.database_url is None or self.database_url.startswith("sqlite")

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'linkage-hub.db'}"

    @property
    def secrets_dir(self) -> Path:
        """Where generated keys are kept: beside the SQLite file, or the data dir."""
        url = self.sqlalchemy_url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            return Path(url.removeprefix("sqlite:///")).resolve().parent
        return self.data_dir

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self) -> dt.date:
        return dt.datetime.now(self.zone).date()


@lru_cache
def get_settings() -> Settings:
    return Settings()
