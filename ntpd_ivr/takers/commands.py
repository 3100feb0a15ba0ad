"""`ntpd-ivr taker add|remove|passwd|list`: call-taker SIP accounts, applied to a running
Asterisk without a restart (res_pjsip and app_queue reloaded over AMI). In the two-node
stack (settings [edge], docs/ha.md) to both nodes' Asterisk and to the Kamailio edge where
the phones register."""

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


def apply(store: AccountStore, settings: Any, nodes: list[tuple[str, Any]], *,
          reload: bool = True, forget: str = "") -> int:
    """Write the includes for each node's Asterisk and reload it, then the edge's table
    (docs/ha.md); `forget`: the call-taker whose registration the edge drops (removed or
    re-keyed). 0 when every part has the accounts live."""
    status = 0
    for label, node in nodes:
        status |= _apply_node(store, node, label, via_edge=settings.edge.address,
                              via_edge_tls=settings.edge.tls_address, reload=reload)
    if settings.edge.credentials_dir:
        status |= _apply_edge(store, settings.edge, forget if reload else "")
    return status


def _nodes(store: AccountStore, settings: Any) -> list[tuple[str, Any]]:
    """(label, settings) of each node the accounts go to: this one, and in the two-node
    stack the other one (edge.peer_settings), which must share this accounts file."""
    if not settings.edge.peer_settings:
        return [("", settings)]
    from ntpd_ivr.settings import load_settings

    # The other node's own file as it is: this process's environment is about this node.
    peer = load_settings(settings.edge.peer_settings, environ={})
    shared = Path(peer.takers.accounts_file or ".").resolve() == store.path.resolve()
    if not shared:
        raise ConfigError(f"{settings.source}: edge.peer_settings: {peer.source} keeps its "
                          f"call-takers in {peer.takers.accounts_file!r}, not {store.path}: "
                          "both nodes must share one accounts file")
    return [(settings.ami_peer.local_name, settings), (peer.ami_peer.local_name, peer)]


def _apply_node(store: AccountStore, settings: Any, label: str, *, via_edge: str,
                via_edge_tls: str, reload: bool) -> int:
    prefix = f"{label}: " if label else ""
    conf_dir = Path(settings.asterisk.conf_dir)
    if not conf_dir.is_dir():
        raise ConfigError(f"{settings.source}: asterisk.conf_dir: {conf_dir} is not "
                          "a directory")
    for path in write_includes(store.accounts.values(), str(store.path), conf_dir,
                               via_edge=via_edge, via_edge_tls=via_edge_tls):
        print(f"{prefix}wrote {path}")
    if not reload:
        return 0
    from ntpd_ivr.asterisk_reload import reload_modules

    try:
        results = asyncio.run(reload_modules(settings.ami, RELOADED))
    except StackError as exc:
        print(f"{prefix}Asterisk not reloaded ({exc}): it reads the accounts at its next "
              "start or `ntpd-ivr config reload`", file=sys.stderr)
        return 1
    for module, ok in results:
        print(f"{prefix}reloaded {module}: {'Success' if ok else 'Error'}")
    return 0 if all(ok for _, ok in results) else 1


def _apply_edge(store: AccountStore, edge: Any, forget: str) -> int:
    """The edge's table (read again at its next lookup: no reload to ask for); then the
    registration of a removed or re-keyed call-taker dropped, so that the nodes stop
    reaching that phone now rather than when its registration expires."""
    from ntpd_ivr.takers.edge import forget_registration, write_table

    path = write_table(store.accounts.values(), Path(edge.credentials_dir))
    print(f"edge: wrote {path} (read at the next REGISTER)")
    if not forget or not edge.ctl_socket:
        return 0
    try:
        dropped = forget_registration(Path(edge.ctl_socket), forget)
    except StackError as exc:
        print(f"edge: registration of {forget} not dropped ({exc}): it lasts until it "
              "expires", file=sys.stderr)
        return 1
    print(f"edge: {'dropped the registration' if dropped else 'no registration'} of {forget}")
    return 0


def _change(args: argparse.Namespace, settings: Any,
            change: Callable[[AccountStore], str], action: str, forget: str = "") -> int:
    """Change the accounts, save them, say what changed, audit it (`taker.<action>`, never
    a password), and apply it to Asterisk (and, in the two-node stack, to the other node
    and the edge)."""
    from ntpd_ivr.audit import cli as audit

    store = _store(settings)
    nodes = _nodes(store, settings)  # a peer that cannot take the change: before saving it
    before = store.accounts.get(args.name)
    message = change(store)
    store.save()
    print(message)
    account = store.accounts.get(args.name) or before
    detail = ({"region": account.region, "queue": account.queue,
               "transport": account.transport} if account is not None else {})
    audited = audit.write(settings.database, audit.actor(getattr(args, "by", None)),
                          f"taker.{action}", "taker", args.name, detail)
    return apply(store, settings, nodes, reload=not args.no_reload, forget=forget) | audited


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
        args.name, store.add(args.name, args.region, queue, transport)), "added")


def cmd_taker_passwd(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    # The old password's phone is not reached any more, even before it re-registers.
    return _change(args, load(args), lambda store: _password_message(
        args.name, store.passwd(args.name)), "password-changed", forget=args.name)


def cmd_taker_remove(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    def remove(store: AccountStore) -> str:
        removed = store.remove(args.name)
        return f"removed {removed.name} (region {removed.region}, queue {removed.queue})"

    return _change(args, load(args), remove, "removed", forget=args.name)


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
        c.add_argument("--by", help="who makes the change, for the audit trail (default "
                                    "cli:<login name>)")
        c.add_argument("--no-reload", action="store_true",
                       help="only write the files; Asterisk reads them at its next reload "
                            "(the edge's table, in the two-node stack, at once)")
    action("list", "list the call-takers", cmd_taker_list)
