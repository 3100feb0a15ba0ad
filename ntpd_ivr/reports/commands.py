"""`ntpd-ivr report`, registered by ntpd_ivr/cli.py."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ntpd_ivr.period import parse_time
from ntpd_ivr.reports.model import DEFAULT_WITHIN, GROUPINGS


def iso_time(text: str) -> datetime:
    """parse_time for argparse, which shows an ArgumentTypeError's message as it is."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_report(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    from ntpd_ivr.db.session import make_engine
    from ntpd_ivr.incidents import commitments
    from ntpd_ivr.reports.grouped import load_text_rows
    from ntpd_ivr.reports.model import compute_figures, text_figures
    from ntpd_ivr.reports.report import render
    from ntpd_ivr.reports.repository import load_rows
    from ntpd_ivr.routing.config import RoutingConfig, load_routing_config

    if args.to <= args.start:
        print("ntpd-ivr: --to must be after --from", file=sys.stderr)
        return 2
    if args.from_peer is not None:
        return _peer_report(args)
    settings = load(args)
    routing = (load_routing_config(settings.ivr.routing_config) if settings.ivr.routing_config
               else RoutingConfig.minimal(settings.ivr.default_queue))
    if args.by is not None:
        return _grouped_report(args, settings, routing)

    async def run() -> str:
        engine = make_engine(settings.database)
        try:
            rows = await load_rows(engine, args.start, args.to, args.region)
            dispatches = await commitments.load_dispatches(engine, args.start, args.to,
                                                           region=args.region)
            texts = text_figures(await load_text_rows(engine, args.start, args.to,
                                                      args.region))
        finally:
            await engine.dispose()
        agencies = commitments.compute(dispatches, routing)
        return render(compute_figures(rows), args.format, start=args.start, end=args.to,
                      region=args.region, agencies=agencies, texts=texts)

    print(asyncio.run(run()))
    return 0


def _grouped_report(args: argparse.Namespace, settings: Any, routing: Any) -> int:
    from ntpd_ivr.db.session import make_engine
    from ntpd_ivr.reports.grouped import RENDERERS, build_report, taker_names
    from ntpd_ivr.reports.model import MAX_WITHIN
    from ntpd_ivr.web.auth import UserStore

    if not 0 < args.within <= MAX_WITHIN:
        print(f"ntpd-ivr: --within must be 1-{MAX_WITHIN} seconds", file=sys.stderr)
        return 2
    users = UserStore(Path(settings.web.users_file) if settings.web.users_file else None)

    async def run() -> str:
        engine = make_engine(settings.database)
        try:
            report = await build_report(engine, routing, by=args.by, within=args.within,
                                        start=args.start, end=args.to, region=args.region,
                                        takers=taker_names(users.users.values()))
        finally:
            await engine.dispose()
        return RENDERERS[args.format](report)

    print(asyncio.run(run()).rstrip("\n"))
    return 0


def _peer_report(args: argparse.Namespace) -> int:
    """The calls another center took for our region while we were dark, from its API
    (docs/ha.md, "A second site"): the same figures as our own report."""
    from ntpd_ivr.reports.model import compute_figures
    from ntpd_ivr.reports.peer import PeerError, overflow_rows, read_token
    from ntpd_ivr.reports.report import render

    if args.token_file is None or args.region is None or args.by is not None:
        print("ntpd-ivr: --from-peer needs --token-file and --region (the region the peer "
              "took calls for), and takes no --by", file=sys.stderr)
        return 2
    try:
        rows = asyncio.run(overflow_rows(args.from_peer, read_token(args.token_file),
                                         args.region, args.start, args.to))
    except PeerError as exc:
        print(f"ntpd-ivr: {exc}", file=sys.stderr)
        return 1
    print(render(compute_figures(rows), args.format, start=args.start, end=args.to,
                 region=args.region))
    return 0


def add_commands(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
                 load: Callable[[argparse.Namespace], Any]) -> None:
    p = sub.add_parser("report", help="answer-time figures over all offered 112 calls",
                       description="Offered, answered, abandoned, % answered within "
                                   "10/15/20 s, average answer time, average of the slowest "
                                   "10 %, abandon rate, counts per category and region, for "
                                   "calls that arrived in [--from, --to); then, per agency "
                                   "and region, its dispatches against its commitment: time "
                                   "to answer, accept and on scene as p50/p90 and the share "
                                   "within the commitment.")
    with_config(p)
    p.add_argument("--from", dest="start", type=iso_time, required=True,
                   help="ISO 8601 (UTC without a zone)")
    p.add_argument("--to", type=iso_time, required=True)
    p.add_argument("--region", default=None)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--by", choices=GROUPINGS, default=None,
                   help="one line per day, ISO week or month (the center's time zone), "
                        "region, category, agency or call-taker, then the total: offered, "
                        "answered within N s, abandon rate, prank and ghost shares, "
                        "dispatches within the commitments (the /reports page's figures)")
    p.add_argument("--from-peer", metavar="URL", default=None,
                   help="instead of our database: the calls another center (the second "
                        "site) took for --region while we were dark, read from its API "
                        "(GET /api/v1/calls?overflow_region=), with --token-file")
    p.add_argument("--token-file", type=Path, metavar="FILE", default=None,
                   help="with --from-peer: a file holding the peer's API token for us")
    p.add_argument("--within", type=int, default=DEFAULT_WITHIN, metavar="N",
                   help="with --by: the N of 'answered within N s' (default %(default)s)")
    p.set_defaults(func=lambda a: cmd_report(a, load))
