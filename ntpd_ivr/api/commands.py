"""`ntpd-ivr token create|list|revoke`, registered by ntpd_ivr/cli.py."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ntpd_ivr.web.auth import ROLES

T = TypeVar("T")


def _actor() -> str:
    """Who ran the command, for the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _with_store(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any],
                use: Callable[[Any], Awaitable[T]]) -> T:
    from ntpd_ivr.api.tokens import TokenStore
    from ntpd_ivr.db.session import make_engine

    settings = load(args)

    async def run() -> T:
        engine = make_engine(settings.database)
        try:
            return await use(TokenStore(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_create(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    token_id, secret = _with_store(
        args, load, lambda store: store.create(args.name, args.role, args.agency or "",
                                               _actor()))
    print(f"token {token_id} for {args.name} ({args.role}); give the client this secret, "
          "it is shown only now:")
    print(secret)
    return 0


def cmd_list(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    tokens = _with_store(args, load, lambda store: store.all())
    print(f"{'id':>4}  {'name':<20} {'role':<11} {'agency':<22} {'created':<26} state")
    for t in tokens:
        state = f"revoked {t.revoked_at.isoformat()}" if t.revoked_at else "active"
        print(f"{t.id:>4}  {t.name:<20} {t.role:<11} {t.agency or '-':<22} "
              f"{t.created_at.isoformat():<26} {state}")
    return 0


def cmd_revoke(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    ids = _with_store(args, load, lambda store: store.revoke(args.name, _actor()))
    if not ids:
        print(f"ntpd-ivr: no active token named or numbered {args.name!r}")
        return 1
    print(f"revoked token(s) {', '.join(map(str, ids))}")
    return 0


def add_commands(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
                 load: Callable[[argparse.Namespace], Any]) -> None:
    p = sub.add_parser("token", help="bearer tokens for machine clients of /api/v1",
                       description="Tokens for scripts and other systems calling /api/v1 "
                                   "(Authorization: Bearer). Stored hashed in the database; "
                                   "every creation and revocation is audited.")
    token_sub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="make a token; prints its secret once")
    with_config(create)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--agency", default="",
                        help="for role agency: <region>-<agency> of the routing config")
    create.add_argument("name", help="who uses it, e.g. pusat-monitoring (a-z 0-9 - _ .)")
    create.set_defaults(func=lambda a: cmd_create(a, load))
    listing = token_sub.add_parser("list", help="every token, active or revoked (no secrets)")
    with_config(listing)
    listing.set_defaults(func=lambda a: cmd_list(a, load))
    revoke = token_sub.add_parser("revoke", help="revoke the active tokens of NAME (or id)")
    with_config(revoke)
    revoke.add_argument("name")
    revoke.set_defaults(func=lambda a: cmd_revoke(a, load))
