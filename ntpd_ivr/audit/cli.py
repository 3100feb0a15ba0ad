"""Audit entries for what the command line changes outside the database (the web users
file, the call-takers' SIP accounts): written after the change, in the same trail as the
web's, with the actor `cli:<login name>` (or `--by`).

The file is changed first, then the entry written: an entry is never there for a change
that did not happen. Without a database in the settings the change is made and the
command says on stderr that it is not audited; with one that cannot be written, it says
`AUDIT NOT WRITTEN` and exits 1.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Mapping
from typing import Any

from ntpd_ivr.settings import DatabaseSettings

NOT_WRITTEN = 1  # the exit status when the change is made but its entry is not stored


def actor(by: str | None) -> str:
    """Who ran the command: `--by`, else `cli:<login name>`."""
    return by or f"cli:{getpass.getuser()}"


def write(database: DatabaseSettings, actor: str, action: str, subject_type: str,
          subject_id: str, detail: Mapping[str, Any]) -> int:
    """Store one entry; 0 if stored or if there is no database to store it in."""
    if not database.url:
        print(f"ntpd-ivr: {action} of {subject_id} is not audited: no [database] url "
              "(pass --config)", file=sys.stderr)
        return 0
    from ntpd_ivr.audit.trail import AuditLog
    from ntpd_ivr.db.session import make_engine

    async def run() -> None:
        engine = make_engine(database)
        try:
            await AuditLog(engine).write(actor, action, subject_type, subject_id, detail)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except Exception as exc:
        print(f"ntpd-ivr: AUDIT NOT WRITTEN: {action} of {subject_id} by {actor} was made, "
              f"but its audit entry could not be stored: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return NOT_WRITTEN
    return 0
