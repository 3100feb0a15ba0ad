"""What the alerts domain tells the others, on the bus (ntpd_ivr/bus.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ntpd_ivr.alerts.model import SurgeMode


@dataclass(frozen=True)
class AlertsChanged:
    """An alert for the center's regions arrived, or surge mode changed: the wall shows
    the alerts' summary again."""


@dataclass(frozen=True)
class SurgeChanged:
    """Surge mode went on, was renewed, ended (by a supervisor or by itself)."""
    action: str              # on, renewed, off, expired
    mode: SurgeMode | None   # None once it is off
