"""What the incidents domain tells the others, on the bus (ntpd_ivr/bus.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class IncidentsChanged:
    """An incident, a disposition or a dispatch changed: `kind` is the screens' message
    (incident.created, incident.closed, call.disposition; dispatch.created and
    dispatch.changed come from ntpd_ivr/dispatch, which tells the call-takers too)."""
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class CallDisposed:
    """A call was given its disposition: the call-taker's wrap-up of it ends."""
    call: str


@dataclass(frozen=True)
class DispositionWritten:
    """Inside the disposition's transaction (bus.call): what else is written with it, or
    neither is (the prank strikes)."""
    conn: AsyncConnection
    call: str
    disposition: str
    actor: str
    at: datetime
