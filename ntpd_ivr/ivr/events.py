"""What the emergency IVR tells the other domains, on the bus (ntpd_ivr/bus.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallOverflowed:
    """A call another center's edge overflowed here came in on `trunk`, a neighbour's trunk
    (ntpd_ivr/ivr/overflow.py), for that center's region `overflow_region`: the wall marks
    it while it is live. Names come from our routing config (`overflow_note`), never from
    the header."""
    uniqueid: str
    trunk: str
    overflow_region: str
