"""`ntpd-ivr strikes list|unblock NUMBER`: the strikes in PostgreSQL, for supervisors at a
shell. An unblock is audited (actor `cli:<user>`, or --by); the running controller sees it
at its next strike-view refresh (`[prank] refresh_seconds`). The web's
POST /api/strikes/unblock takes effect at once."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from collections.abc import Callable
from typing import Any

from ntpd_ivr.errors import ConfigError


def _service(settings: Any) -> Any:
    from ntpd_ivr.db.session import make_engine
    from ntpd_ivr.prank.service import PrankService
    from ntpd_ivr.routing.config import RoutingConfig, load_routing_config

    routing = (load_routing_config(settings.ivr.routing_config)
               if settings.ivr.routing_config
               else RoutingConfig.minimal(settings.ivr.default_queue))
    return PrankService(make_engine(settings.database), lambda: routing)


async def _run(settings: Any, work: Callable[[Any], Any]) -> Any:
    service = _service(settings)
    try:
        return await work(service)
    finally:
        await service.engine.dispose()


def _number(text: str) -> str:
    from ntpd_ivr.prank.http import caller_number

    try:
        return caller_number(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def cmd_strikes_list(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]
                     ) -> int:
    number = _number(args.number) if args.number else None
    rows = asyncio.run(_run(load(args), lambda s: s.listing(number)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [("NUMBER", "REGION", "STRIKES", "LEVEL", "BLOCKED UNTIL", "LAST STRIKE")] + [
        (r["number"], r["region"], str(r["strikes"]), r["level"], r["blocked_until"] or "-",
         r["last_strike"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_strikes_unblock(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]
                        ) -> int:
    number = _number(args.number)
    actor = args.by or f"cli:{getpass.getuser()}"
    settings = load(args)
    cleared = asyncio.run(_run(settings, lambda s: s.unblock(number, actor)))
    print(f"{number}: {cleared} strike(s) cleared by {actor}; the controller applies it "
          "at its next strike-view refresh")
    return 0


def add_commands(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
                 load: Callable[[argparse.Namespace], Any]) -> None:
    p = sub.add_parser("strikes", help="prank/silent-call strikes: list, unblock",
                       description="Strikes per caller number (docs/prank.md).")
    strikes_sub = p.add_subparsers(dest="strikes_command", required=True, metavar="ACTION")
    c = strikes_sub.add_parser("list", help="numbers with strikes, their level and block end")
    with_config(c)
    c.add_argument("--number", help="one number (any form: 0812..., +62812...)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=lambda args: cmd_strikes_list(args, load))
    c = strikes_sub.add_parser("unblock", help="clear a number's strikes (audited)")
    with_config(c)
    c.add_argument("number")
    c.add_argument("--by", help="who unblocks, for the audit trail (default cli:<user>)")
    c.set_defaults(func=lambda args: cmd_strikes_unblock(args, load))
