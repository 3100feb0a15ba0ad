"""`ntpd-ivr reconcile`, registered by ntpd_ivr/cli.py."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cmd_reconcile(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    from ntpd_ivr.calls.reconcile import read_cdr, reconcile
    from ntpd_ivr.db.session import make_engine

    settings = load(args)
    cdr = args.cdr or (Path(settings.records.cdr_csv) if settings.records.cdr_csv else None)
    if cdr is None:
        print("ntpd-ivr: no CDR file: give --cdr PATH or set records.cdr_csv",
              file=sys.stderr)
        return 2
    if not cdr.is_file():
        print(f"ntpd-ivr: CDR file {cdr} not found", file=sys.stderr)
        return 2

    async def run() -> str:
        engine = make_engine(settings.database)
        try:
            result = await reconcile(engine, await asyncio.to_thread(read_cdr, cdr))
        finally:
            await engine.dispose()
        return (f"{result.examined} ended 112 call(s) in {cdr}: {result.inserted} added, "
                f"{result.completed} completed from the CDR")

    print(asyncio.run(run()))
    return 0


def add_commands(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
                 load: Callable[[argparse.Namespace], Any]) -> None:
    p = sub.add_parser("reconcile", help="fill call records the controller missed from "
                                         "Asterisk's CDR",
                       description="Read Asterisk's cdr_custom Master.csv and write every "
                                   "112 call missing from `calls` (or missing its end) "
                                   "with reconciled=true. Safe to run again.")
    with_config(p)
    p.add_argument("--cdr", type=Path, default=None,
                   help="Master.csv (default: the settings' records.cdr_csv)")
    p.set_defaults(func=lambda a: cmd_reconcile(a, load))
