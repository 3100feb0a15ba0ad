"""What the location domain tells the others (ntpd_ivr/bus.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ntpd_ivr.location.model import DeskFix


@dataclass(frozen=True)
class FixArrived:
    """News: a fix from the caller's phone (AML SMS, ELS HTTPS, location link) was stored
    and matched to `call` (its uniqueid); the desk that has the call shows it."""

    call: str
    fix: DeskFix
