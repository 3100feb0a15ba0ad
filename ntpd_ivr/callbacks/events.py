"""What the callbacks domain tells the others, on the bus (ntpd_ivr/bus.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallbacksChanged:
    """The callback list changed: the wall shows its summary again."""
