"""The controller's one clock: aware UTC datetimes for rows, audit entries and deadlines.

Services take a `clock` argument defaulting to `utcnow`, so that tests can pass a fixed one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_midnight(now: datetime) -> datetime:
    """Midnight of `now`'s day where this machine is (the center's zone): where "today"
    starts for the wall's figures and the callbacks' (`now` aware, in any zone)."""
    return now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)


class Timed(Protocol):
    """An AMI event: when Asterisk says it happened (if it says), and when we read it."""
    @property
    def timestamp(self) -> float | None: ...
    @property
    def received_at(self) -> float: ...


def event_time(event: Timed) -> float:
    """Asterisk's own time of the event (timestampevents), else when we read it."""
    return event.timestamp if event.timestamp is not None else event.received_at


def event_datetime(event: Timed) -> datetime:
    return datetime.fromtimestamp(event_time(event), UTC)
