"""The old home of the schema, kept for code written before the split (issue 20): Base is
ntpd_ivr/db/base.py's, Call and CallEvent are the calls domain's (ntpd_ivr/calls/tables.py),
and importing this module, like ntpd_ivr/tables.py, registers every table. Part of the
composition root: new code imports from those modules instead."""

from __future__ import annotations

from ntpd_ivr.calls.tables import Call, CallEvent
from ntpd_ivr.db.base import Base
from ntpd_ivr.tables import metadata

__all__ = ["Base", "Call", "CallEvent", "metadata"]
