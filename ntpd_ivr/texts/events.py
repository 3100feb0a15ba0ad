"""What the texts domain tells the others (ntpd_ivr/bus.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextsChanged:
    """News: a text session opened, was taken, ended, or its offer timed out (the wall
    reads the waiting ones again)."""
