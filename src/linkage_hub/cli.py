"""The ``linkage-hub`` command.

Every command says what went wrong in one line on stderr and exits non-zero on failure. Domain
commands (``clients``, ``demo``, ``reconcile``, ...) are registered by their domain's ``cli``
module, so this file only knows the service-level ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from linkage_hub.commands import CommandError, Handler, open_database
from linkage_hub.settings import Settings, get_settings

__all__ = ["CommandError", "build_parser", "main", "openapi_document"]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if settings.ops_port == args.port:
        raise CommandError("LINKAGE_OPS_PORT must differ from --port")
    from linkage_hub.records.keys_cli import require_key_set

    db = open_database(settings)
    try:
        require_key_set(db, settings)
        if args.demo:
            from linkage_hub.auth.users import create_demo_accounts
            from linkage_hub.public.cli import publish_demo
            from linkage_hub.reconciliation.cli import reconcile_demo
            from linkage_hub.records.demo import demo_finished, load_demo_if_empty

            if load_demo_if_empty(settings, db):
                reconcile_demo(db)
                publish_demo(db)
                accounts = create_demo_accounts(db, settings.secrets_dir)
                demo_finished(settings)
                print(
                    f"demo console accounts (http://{args.host}:{args.port}/console/) in {accounts}"
                )
    finally:
        db.dispose()
    options: dict[str, Any] = {
        "factory": True,
        "workers": args.workers,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        # Deliberate limits (README "Capacity"): connections per process, and idle keep-alive
        # connections closed after a few seconds; the work in flight is bounded in the app
        # (linkage_hub.loadshed), which answers a problem body rather than uvicorn's plain 503.
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_seconds,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 by default and put the address
        # it names in the request before the hub sees it: any client behind a local proxy that
        # passes the header through would choose its own address. Who may speak for a client
        # is LINKAGE_TRUSTED_PROXIES' alone (linkage_hub.clientaddr).
        "proxy_headers": False,
    }
    if settings.ops_port is None:
        uvicorn.run("linkage_hub.app:create_app", host=args.host, port=args.port, **options)
        return 0
    _serve_with_ops_port(args, settings, options)
    return 0


def _serve_with_ops_port(
    args: argparse.Namespace, settings: Settings, options: dict[str, Any]
) -> None:
    """One app on two listening sockets, the departments' port and the operators' one (every
    worker serves both); the app tells them apart by the port a request came in on."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    assert settings.ops_port is not None
    app = "linkage_hub.app:create_app"
    config = uvicorn.Config(app, host=args.host, port=args.port, **options)
    ops_host = settings.ops_host or args.host
    ops = uvicorn.Config(app, host=ops_host, port=settings.ops_port, **options)
    sockets = [config.bind_socket(), ops.bind_socket()]
    if config.workers > 1:
        Multiprocess(config, sockets=sockets).run()
    else:
        server = uvicorn.Server(config)
        server.run(sockets=sockets)
        if not server.started:
            raise CommandError("the server did not start")


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from linkage_hub.db import Database
    from linkage_hub.migrations import downgrade, upgrade
    from linkage_hub.records.keys_cli import require_key_set

    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings)
    try:  # the first step of every start in the Dockerfile: a missing key set stops it here
        require_key_set(db, settings)
    finally:
        db.dispose()
    if args.downgrade:
        downgrade(settings, args.downgrade)
    else:
        upgrade(settings, args.revision)
    print(f"migrated {_database_named(settings)} to {args.downgrade or args.revision}")
    return 0


def _database_named(settings: Settings) -> str:
    """The database, for output: its host, port and name, never the user or the query (libpq
    takes a password as ``?password=`` too, as secret stores often render it)."""
    from sqlalchemy.engine import URL, make_url

    url = make_url(settings.sqlalchemy_url)
    return URL.create(
        url.drivername, host=url.host, port=url.port, database=url.database
    ).render_as_string()


def openapi_document(settings: Settings) -> str:
    from linkage_hub.app import create_app
    from linkage_hub.db import Database

    settings = settings.model_copy(update={"database_url": "sqlite://"})
    db = Database(settings)
    try:
        doc = create_app(settings, database=db).openapi()
    finally:
        db.dispose()
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def _openapi(args: argparse.Namespace, settings: Settings) -> int:
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(openapi_document(settings), encoding="utf-8")
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkage-hub",
        description="The five-department staffing linkage hub. Settings come from LINKAGE_* "
        "environment variables (LINKAGE_DATABASE_URL, LINKAGE_DATA_DIR, ...).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the HTTP service",
        description="Run the HTTP service. On the embedded SQLite default the "
        "schema is migrated first; on PostgreSQL pending migrations stop it.",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument(
        "--demo", action="store_true", help="load the demo city first when the database is empty"
    )
    serve.set_defaults(handler=_serve)

    migrate = sub.add_parser(
        "migrate",
        help="apply database migrations",
        description="Bring the database schema to the newest migration.",
    )
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.add_argument("--downgrade", metavar="REVISION", help="downgrade to REVISION instead")
    migrate.set_defaults(handler=_migrate)

    openapi = sub.add_parser(
        "openapi",
        help="write the OpenAPI document",
        description="Write the OpenAPI document of this version.",
    )
    openapi.add_argument("--output", "-o", default="openapi/openapi.json")
    openapi.set_defaults(handler=_openapi)

    from linkage_hub.audit import cli as audit_cli
    from linkage_hub.auth import cli as auth_cli
    from linkage_hub.notifications import cli as notifications_cli
    from linkage_hub.public import cli as public_cli
    from linkage_hub.reconciliation import cli as reconciliation_cli
    from linkage_hub.records import cli as records_cli
    from linkage_hub.records import keys_cli

    for module in (
        auth_cli,
        records_cli,
        reconciliation_cli,
        audit_cli,
        keys_cli,
        notifications_cli,
        public_cli,
    ):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:  # a setting out of bounds: name it, as set in the environment
        first = exc.errors()[0]
        name = f"LINKAGE_{str(first['loc'][0]).upper()}" if first["loc"] else "LINKAGE_*"
        print(f"linkage-hub {args.command}: setting {name}: {first['msg']}", file=sys.stderr)
        return 1
    try:
        handler: Handler = args.handler
        return handler(args, settings)
    except CommandError as exc:
        print(f"linkage-hub {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, not a traceback, for operators and cron mail
        from linkage_hub.audit.keyset import AuditKeyMismatch

        if isinstance(exc, AuditKeyMismatch):  # what to check, which the API does not say
            print(f"linkage-hub {args.command}: {exc.reason}", file=sys.stderr)
            return 1
        print(
            f"linkage-hub {args.command}: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr
        )
        return 1


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "failed"


if __name__ == "__main__":
    raise SystemExit(main())
