"""What the calls pipeline tells the others, on the bus (ntpd_ivr/bus.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallAnswered:
    """A call was answered: seconds from arrival, and its wait in the queue if known."""
    answer_seconds: float
    queue_wait_seconds: float | None
