"""`ntpd-ivr contacts ...` and `ntpd-ivr campaign ...`: the same store as the web views.

The CLI works on the database directly (whoever runs it holds the controller's settings
and their database password), naming the person with `--as`; a running controller picks up
an approval or a cancel within a couple of seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.jsontext import dumps

T = TypeVar("T")
Load = Callable[[argparse.Namespace], Any]


def _with_engine(args: argparse.Namespace, load: Load,
                 work: Callable[[Any, AsyncEngine], Awaitable[T]]) -> T:
    from ntpd_ivr.db.session import make_engine

    settings = load(args)

    async def run() -> T:
        engine = make_engine(settings.database)
        try:
            return await work(settings, engine)
        finally:
            await engine.dispose()
    return asyncio.run(run())


def _fail(message: str) -> int:
    print(f"ntpd-ivr: {message}", file=sys.stderr)
    return 1


def cmd_contacts_import(args: argparse.Namespace, load: Load) -> int:
    from ntpd_ivr.campaigns import model, store

    languages = model.contact_languages(load(args).warnings.regional_language)
    try:
        plan = model.parse_contacts_csv(args.file.read_text(encoding="utf-8"), languages)
    except model.ContactImportError as exc:
        return _fail(f"{args.file}: {exc} (nothing imported)")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"{args.file}: {exc}")
    counts = _with_engine(args, load, lambda _, e: store.import_contacts(e, plan, args.actor))
    print(json.dumps(counts))
    return 0


def cmd_contacts_list(args: argparse.Namespace, load: Load) -> int:
    from ntpd_ivr.campaigns import store

    rows = _with_engine(args, load, lambda _, e: store.list_contacts(e, limit=args.limit))
    for row in rows:
        print(f"{row['id']:>6}  {row['number']:<16} {row['role']:<12} {row['kecamatan']:<16} "
              f"{row['desa']:<16} {row['language']:<3} {row['name']}")
    print(f"{len(rows)} contacts")
    return 0


def cmd_campaign_create(args: argparse.Namespace, load: Load) -> int:
    from ntpd_ivr.campaigns import model
    from ntpd_ivr.campaigns.exceptions import CampaignsError
    from ntpd_ivr.campaigns.service import create_campaign

    def names(value: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in value.split(",") if v.strip())

    async def work(settings: Any, engine: AsyncEngine) -> dict[str, Any]:
        draft = model.CampaignDraft(
            title=args.title, message_text=args.text or "",
            message_text_regional=args.text_regional or "",
            target=model.Target(names(args.kecamatan), names(args.desa),
                                tuple(r.lower() for r in names(args.roles))),
            trunk=args.trunk, caller_id=args.caller_id or settings.warnings.caller_id,
            retry=model.RetryPolicy(args.max_attempts, args.no_answer_seconds,
                                    args.busy_seconds, args.failed_seconds),
            recording=str(args.recording.resolve()) if args.recording else "")
        return await create_campaign(settings.warnings, engine, draft, args.actor)
    try:
        print(dumps(_with_engine(args, load, work)))
    except CampaignsError as exc:
        return _fail(str(exc))
    return 0


def cmd_campaign_change(args: argparse.Namespace, load: Load) -> int:
    from ntpd_ivr.campaigns import store
    from ntpd_ivr.campaigns.exceptions import CampaignsError

    change = {"approve": store.approve, "cancel": store.cancel}[args.change]
    try:
        row = _with_engine(args, load, lambda _, e: change(e, args.id, args.actor))
    except CampaignsError as exc:
        return _fail(str(exc))
    print(dumps(row))
    return 0


def cmd_campaign_list(args: argparse.Namespace, load: Load) -> int:
    from ntpd_ivr.campaigns import store

    for row in _with_engine(args, load, lambda _, e: store.list_campaigns(e)):
        print(f"{row['id']:>4}  {row['status']:<18} {row['contacts'] or 0:>6} contacts  "
              f"by {row['created_by']}, approved by {row['approved_by'] or '-'}: "
              f"{row['title']}")
    return 0


def cmd_campaign_report(args: argparse.Namespace, load: Load) -> int:
    from ntpd_ivr.campaigns import store
    from ntpd_ivr.campaigns.exceptions import CampaignsError
    from ntpd_ivr.campaigns.http import report_csv

    try:
        row, figures, outcomes = _with_engine(
            args, load, lambda _, e: store.campaign_report(e, args.id))
    except CampaignsError as exc:
        return _fail(str(exc))
    if args.csv:
        args.csv.write_text(report_csv(outcomes))
    print(json.dumps({"campaign": row.id, "title": row.title, "status": row.status,
                      "created_by": row.created_by, "approved_by": row.approved_by,
                      **figures.as_dict()}, indent=2))
    return 0


def add_commands(sub: Any, with_config: Callable[[argparse.ArgumentParser], None],
                 load: Load) -> None:
    p = sub.add_parser("contacts", help="warning campaign contacts: import, list")
    contacts = p.add_subparsers(dest="contacts_command", required=True)
    c = contacts.add_parser("import", help="import a CSV (name,number,role,kecamatan,desa,"
                                           "language): all rows or none")
    with_config(c)
    c.add_argument("file", type=Path)
    c.add_argument("--as", dest="actor", required=True, help="who imports (audited)")
    c.set_defaults(func=lambda a: cmd_contacts_import(a, load))
    c = contacts.add_parser("list", help="list contacts")
    with_config(c)
    c.add_argument("--limit", type=int, default=1000)
    c.set_defaults(func=lambda a: cmd_contacts_list(a, load))

    p = sub.add_parser("campaign", help="public warning campaigns: create, approve, cancel, "
                                        "list, report")
    campaigns = p.add_subparsers(dest="campaign_command", required=True)
    c = campaigns.add_parser("create", help="a campaign awaiting a second supervisor")
    with_config(c)
    c.add_argument("--as", dest="actor", required=True, help="the supervisor (audited)")
    c.add_argument("--title", required=True)
    message = c.add_mutually_exclusive_group(required=True)
    message.add_argument("--text", help="message in Bahasa Indonesia (spoken by the TTS)")
    message.add_argument("--recording", type=Path, help="a recorded message (any format "
                                                        "sox reads)")
    c.add_argument("--text-regional", default="",
                   help="the message in the regional language of the settings "
                        "(warnings.regional_language) too: its contacts hear it")
    c.add_argument("--kecamatan", default="", help="comma-separated; empty: all")
    c.add_argument("--desa", default="", help="comma-separated; empty: all")
    c.add_argument("--roles", default="", help="comma-separated; empty: all")
    c.add_argument("--trunk", default="warning-trunk")
    c.add_argument("--caller-id", default="", help="default: warnings.caller_id")
    c.add_argument("--max-attempts", type=int, default=3)
    c.add_argument("--no-answer-seconds", type=float, default=300.0)
    c.add_argument("--busy-seconds", type=float, default=120.0)
    c.add_argument("--failed-seconds", type=float, default=300.0)
    c.set_defaults(func=lambda a: cmd_campaign_create(a, load))
    for change, helptext in (("approve", "approve (a second supervisor): it starts"),
                             ("cancel", "cancel: no new calls")):
        c = campaigns.add_parser(change, help=helptext)
        with_config(c)
        c.add_argument("id", type=int)
        c.add_argument("--as", dest="actor", required=True, help="the supervisor (audited)")
        c.set_defaults(func=lambda a: cmd_campaign_change(a, load), change=change)
    c = campaigns.add_parser("list", help="campaigns, newest first")
    with_config(c)
    c.set_defaults(func=lambda a: cmd_campaign_list(a, load))
    c = campaigns.add_parser("report", help="reached, confirmed, time to first and to 90 % "
                                            "confirmed; --csv FILE: one line per contact")
    with_config(c)
    c.add_argument("id", type=int)
    c.add_argument("--csv", type=Path, default=None)
    c.set_defaults(func=lambda a: cmd_campaign_report(a, load))
