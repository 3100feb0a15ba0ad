"""The controller's one clock: aware UTC datetimes for rows, audit entries and deadlines.

Services take a `clock` argument defaulting to `utcnow`, so that tests can pass a fixed one."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
