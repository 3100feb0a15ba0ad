"""`ntpd-ivr taker add|remove|passwd|list`: call-taker SIP accounts, applied to a running
Asterisk without a restart (res_pjsip and app_queue reloaded over AMI)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ntpd_ivr.errors import ConfigError, StackError
from ntpd_ivr.takers.accounts import REALM, AccountStore
from ntpd_ivr.takers.render import PJSIP_NAME, write_includes

RELOADED = ("res_pjsip.so", "app_queue.so")


def _store(settings: Any) -> AccountStore:
    if not settings.takers.accounts_file:
        raise ConfigError(f"{settings.source}: takers.accounts_file: not set (where the "
                          "call-taker accounts are kept)")
    return AccountStore(Path(settings.takers.accounts_file))


def apply(store: AccountStore, settings: Any, *, reload: bool = True) -> int:
    """Write the includes for Asterisk, then reload it. 0 when Asterisk has them live."""
    conf_dir = Path(settings.asterisk.conf_dir)
    if not conf_dir.is_dir():
        raise ConfigError(f"{settings.source}: asterisk.conf_dir: {conf_dir} is not "
                          "a directory")
    for path in write_includes(store.accounts.values(), str(store.path), conf_dir):
        print(f"wrote {path}")
    if not reload:
        return 0
    from ntpd_ivr.asterisk_reload import reload_modules

    try:
        results = asyncio.run(reload_modules(settings.ami, RELOADED))
    except StackError as exc:
        print(f"Asterisk not reloaded ({exc}): it reads the accounts at its next start or "
              "`ntpd-ivr config reload`", file=sys.stderr)
        return 1
    for module, ok in results:
        print(f"reloaded {module}: {'Success' if ok else 'Error'}")
    return 0 if all(ok for _, ok in results) else 1


def _change(args: argparse.Namespace, settings: Any,
            change: Callable[[AccountStore], str]) -> int:
    """Change the accounts, save them, say what changed, and apply it to Asterisk."""
    store = _store(settings)
    message = change(store)
    store.save()
    print(message)
    return apply(store, settings, reload=not args.no_reload)


def _password_message(name: str, password: str) -> str:
    return (f"SIP account {name}: user name {name}, realm {REALM}\n"
            f"generated password (shown once, stored nowhere): {password}")


def cmd_taker_add(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    from ntpd_ivr.routing.config import load_routing_config

    settings = load(args)
    if not settings.ivr.routing_config:
        raise ConfigError(f"{settings.source}: ivr.routing_config: not set (the call-taker's "
                          "region and queue come from it)")
    routing = load_routing_config(settings.ivr.routing_config)
    if args.region not in routing.regions:
        raise ConfigError(f"--region {args.region!r}: no such region in {routing.source} "
                          f"(known: {', '.join(sorted(routing.regions))})")
    conf_dir = Path(settings.asterisk.conf_dir)
    for path in sorted(conf_dir.glob("pjsip*.conf")):
        if path.name == PJSIP_NAME:
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(f"[{args.name}]"):
                # Same name, same PJSIP section: the call-taker's auth would land on an
                # operator trunk or a stand-in and turn its calls away.
                raise ConfigError(f"call-taker name {args.name!r}: already [{args.name}] in "
                                  f"{path}: choose another name")
    queue = routing.regions[args.region].queue
    transport = "tls" if args.tls else "udp"
    return _change(args, settings, lambda store: _password_message(
        args.name, store.add(args.name, args.region, queue, transport)))


def cmd_taker_passwd(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    return _change(args, load(args), lambda store: _password_message(
        args.name, store.passwd(args.name)))


def cmd_taker_remove(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    def remove(store: AccountStore) -> str:
        removed = store.remove(args.name)
        return f"removed {removed.name} (region {removed.region}, queue {removed.queue})"

    return _change(args, load(args), remove)


def cmd_taker_list(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    store = _store(load(args))
    rows = [("NAME", "REGION", "QUEUE", "TRANSPORT")] + [
        (a.name, a.region, a.queue, a.transport)
        for a in sorted(store.accounts.values(), key=lambda a: a.name)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True))
              .rstrip())
    return 0


def add_commands(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
                 load: Callable[[argparse.Namespace], Any]) -> None:
    p = sub.add_parser("taker", help="call-takers' SIP accounts: add, remove, passwd, list",
                       description="Call-takers' own SIP accounts. Each change is written "
                                   "into Asterisk's pjsip-takers.conf and queues-takers.conf "
                                   "(asterisk.conf_dir) and applied with a reload of "
                                   "res_pjsip and app_queue: no restart, live calls stay.")
    taker_sub = p.add_subparsers(dest="taker_command", required=True, metavar="ACTION")

    def action(name: str, helptext: str,
               func: Callable[[argparse.Namespace, Callable[[argparse.Namespace], Any]], int],
               ) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = taker_sub.add_parser(name, help=helptext,
                                                          description=helptext)
        with_config(c)
        c.set_defaults(func=lambda args: func(args, load))
        return c

    add = action("add", "add a call-taker to their region's queue; prints a generated "
                 "password once", cmd_taker_add)
    add.add_argument("name", help="SIP user name, e.g. ani (a-z 0-9 -)")
    add.add_argument("--region", required=True, help="routing region, e.g. palembang")
    add.add_argument("--tls", action="store_true",
                     help="the phone registers over TLS and media is SRTP (SDES), required")
    for name, helptext, func in (
            ("remove", "remove a call-taker: their phone can no longer register",
             cmd_taker_remove),
            ("passwd", "give a call-taker a new generated password (shown once)",
             cmd_taker_passwd)):
        c = action(name, helptext, func)
        c.add_argument("name")
    for c in (add, taker_sub.choices["remove"], taker_sub.choices["passwd"]):
        c.add_argument("--no-reload", action="store_true",
                       help="only write the files; Asterisk reads them at its next reload")
    action("list", "list the call-takers", cmd_taker_list)
