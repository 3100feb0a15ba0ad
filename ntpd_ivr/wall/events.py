"""What the wall tells the others, on the bus (ntpd_ivr/bus.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ntpd_ivr.wall.model import EndedCall


@dataclass(frozen=True)
class WallCallEnded:
    """A call the wall followed ended (a missed one may become a callback)."""
    call: EndedCall
