"""``linkage-hub clients ...``: create, list, revoke departmental clients and rotate secrets.

Every command prints JSON on stdout. ``create`` and ``rotate-secret`` print the secret once: it
is stored only as a hash and cannot be shown again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from linkage_hub.auth.models import AuthClient
from linkage_hub.auth.scopes import Scope, parse_scopes
from linkage_hub.auth.service import (
    ClientError,
    create_client,
    list_clients,
    revoke_client,
    rotate_secret,
)
from linkage_hub.auth.users import (
    USER_PREFIX,
    create_user,
    disable_user,
    list_users,
    password_link,
    set_password,
)
from linkage_hub.commands import CommandError, open_database
from linkage_hub.domain import Department
from linkage_hub.settings import Settings


@contextmanager
def _transaction(settings: Settings) -> Iterator[Session]:
    db = open_database(settings)
    try:
        with db.transaction() as session:
            yield session
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def client_json(client: AuthClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "department": client.department,
        "region": client.region,
        "scopes": sorted(parse_scopes(client.scopes)),
        "active": client.active,
        "created_at": _time(client.created_at),
        "last_used_at": _time(client.last_used_at),
        "revoked_at": _time(client.revoked_at),
        "secret_rotated_at": _time(client.secret_rotated_at),
    }


def _print(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def _create(args: argparse.Namespace, settings: Settings) -> int:
    with _transaction(settings) as session:
        created = create_client(
            session,
            name=args.name,
            department=args.department,
            region=args.region,
            scopes=args.scope,
        )
        _print({**client_json(created.client), "client_secret": created.client_secret})
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    with _transaction(settings) as session:
        clients = [client_json(c) for c in list_clients(session)]
    _print([c for c in clients if args.all or c["active"]])
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    with _transaction(settings) as session:
        _print(client_json(revoke_client(session, args.client_id)))
    return 0


def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    with _transaction(settings) as session:
        rotated = rotate_secret(session, args.client_id)
        _print({**client_json(rotated.client), "client_secret": rotated.client_secret})
    return 0


def user_json(user: AuthClient) -> dict[str, Any]:
    return {
        "username": user.client_id.removeprefix(USER_PREFIX),
        "actor": user.client_id,
        "name": user.name,
        "department": user.department,
        "region": user.region,
        "active": user.active,
        "created_at": _time(user.created_at),
        "last_used_at": _time(user.last_used_at),
        "disabled_at": _time(user.revoked_at),
        "password_set_at": _time(user.secret_rotated_at),
    }


def _link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/console/password/{token}"


def _password_from_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("no password on standard input")
    return password


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    password = _password_from_stdin() if args.password_stdin else None
    with _transaction(settings) as session:
        created = create_user(
            session,
            username=args.username,
            name=args.name,
            department=args.department,
            region=args.region,
            password=password,
        )
        out = user_json(created.user)
        if created.link_token:
            out["password_link"] = _link(args.base_url, created.link_token)
        _print(out)
    return 0


def _user_list(args: argparse.Namespace, settings: Settings) -> int:
    with _transaction(settings) as session:
        users = [user_json(u) for u in list_users(session)]
    _print([u for u in users if args.all or u["active"]])
    return 0


def _user_disable(args: argparse.Namespace, settings: Settings) -> int:
    with _transaction(settings) as session:
        _print(user_json(disable_user(session, args.username)))
    return 0


def _user_password(args: argparse.Namespace, settings: Settings) -> int:
    with _transaction(settings) as session:
        if args.password_stdin:
            _print(user_json(set_password(session, args.username, _password_from_stdin())))
        else:
            token = password_link(session, args.username)
            _print({"username": args.username, "password_link": _link(args.base_url, token)})
    return 0


def register_users(sub: argparse._SubParsersAction[Any]) -> None:
    users = sub.add_parser(
        "users",
        help="manage people's console accounts",
        description="Create, list and disable the accounts people sign in to the console with. "
        "A person acts with their department's and region's permissions; the audit log names "
        "them user:<username>.",
    )
    commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    base = argparse.ArgumentParser(add_help=False)
    base.add_argument(
        "--base-url",
        default="http://127.0.0.1:8000",
        help="the hub's address as people reach it, for the one-time link",
    )
    create = commands.add_parser(
        "create",
        parents=[base],
        help="create an account",
        description="Create an account. Without --password-stdin it prints a one-time link "
        "(valid a day) through which the person sets their own password.",
    )
    create.add_argument("--department", required=True, choices=[str(d) for d in Department])
    create.add_argument("--region", required=True, help="six-digit division code")
    create.add_argument("--name", required=True, help="the person's name")
    create.add_argument("--username", required=True, help="a-z, 0-9, '.', '_', '-'; no ID number")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(handler=_user_create)

    listing = commands.add_parser("list", help="list accounts")
    listing.add_argument("--all", action="store_true", help="include disabled accounts")
    listing.set_defaults(handler=_user_list)

    disable = commands.add_parser(
        "disable", help="disable an account for good (its sessions end at once)"
    )
    disable.add_argument("username")
    disable.set_defaults(handler=_user_disable)

    password = commands.add_parser(
        "password",
        parents=[base],
        help="a new one-time link to set the password (or --password-stdin)",
        description="Print a new one-time link for the person to choose a password (earlier "
        "links stop working), or set it from standard input. Their sessions end.",
    )
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(handler=_user_password)


def _token_key(args: argparse.Namespace, settings: Settings) -> int:
    from linkage_hub.auth.tokens import TokenKeys

    print(TokenKeys.from_settings(settings).public_pem, end="")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this domain's sub-commands (each sets ``handler(args, settings) -> int``)."""
    token_key = sub.add_parser(
        "token-key",
        help="print the public key that verifies the hub's access tokens (PEM)",
        description="Print the public key (PEM, ES256) that verifies the access tokens this hub "
        "issues, for a gateway in front of it (deploy/haproxy.cfg keys its fair share by the "
        "verified client). The same key is published as a JWK at GET /oauth/jwks.",
    )
    token_key.set_defaults(handler=_token_key)
    clients = sub.add_parser(
        "clients",
        help="manage departmental clients",
        description="Create, list and revoke the clients departmental systems authenticate as.",
    )
    commands = clients.add_subparsers(dest="clients_command", required=True, metavar="ACTION")

    create = commands.add_parser(
        "create",
        help="create a client and print its id and secret (shown once)",
        description="Create a client. Prints one JSON object with client_id and client_secret; "
        "the secret is shown only this once.",
    )
    create.add_argument("--department", required=True, choices=[str(d) for d in Department])
    create.add_argument(
        "--region", required=True, help="six-digit division code: 230000, 230100, 230102"
    )
    create.add_argument("--name", required=True, help='what it is, e.g. "Harbin payroll"')
    create.add_argument(
        "--scope",
        action="append",
        choices=[str(s) for s in Scope],
        help="grant only this scope (repeat; default: all the department may hold)",
    )
    create.set_defaults(handler=_create)

    listing = commands.add_parser("list", help="list clients (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked clients")
    listing.set_defaults(handler=_list)

    revoke = commands.add_parser(
        "revoke",
        help="revoke a client for good",
        description="Revoke a client: no new tokens; its tokens stop working within a minute. "
        "People's accounts are not clients: see `users disable`.",
    )
    revoke.add_argument("client_id")
    revoke.set_defaults(handler=_revoke)

    rotate = commands.add_parser(
        "rotate-secret",
        help="give a client a new secret (printed once)",
        description="Replace a client's secret. The old secret stops working at once; tokens "
        "issued before stop working within a minute. People's accounts are not clients: see "
        "`users password`.",
    )
    rotate.add_argument("client_id")
    rotate.set_defaults(handler=_rotate)

    register_users(sub)
