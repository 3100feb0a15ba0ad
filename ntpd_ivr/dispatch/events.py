"""What the dispatch domain tells the others, on the bus (ntpd_ivr/bus.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DispatchChanged:
    """A dispatch was created or changed state: for that agency's screens."""
    kind: str
    agency: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class DispatchFailed:
    """A connect dispatch failed (no trunk took it, refused, interrupted): the caller stays
    with the call-taker `user` who dispatched, told at once on their own screen."""
    kind: str
    data: Mapping[str, Any]
    user: str | None
