"""The one period parser of report queries, and the CLI's argparse form of it."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from ntpd_ivr.period import parse_time, query_period
from ntpd_ivr.reports.commands import iso_time

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def test_defaults_end_now_and_start_the_given_days_before() -> None:
    assert query_period(None, None, NOW, 7) == (NOW - timedelta(days=7), NOW)
    assert query_period("", "", NOW, 30) == (NOW - timedelta(days=30), NOW)


def test_a_time_without_a_zone_is_utc() -> None:
    assert parse_time("2026-11-28") == datetime(2026, 11, 28, tzinfo=UTC)
    start, end = query_period("2026-11-28T07:00:00+07:00", "2026-11-29", NOW, 7)
    assert start == datetime(2026, 11, 28, tzinfo=UTC) and end.tzinfo is UTC


@pytest.mark.parametrize(("start", "end", "message"), [
    ("yesterday", None, "from and to: not an ISO 8601 date or time: 'yesterday'"),
    (None, "2026-13-01", "from and to: not an ISO 8601 date or time: '2026-13-01'"),
    ("2026-11-29", "2026-11-28", "to must be after from"),
    (None, "0001-01-02", "from and to: out of range"),
])
def test_refusals_name_from_and_to(start: str | None, end: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        query_period(start, end, NOW, 7)


def test_the_command_line_shows_the_same_reason() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO 8601 date or time"):
        iso_time("soon")
    assert iso_time("2026-11-28") == datetime(2026, 11, 28, tzinfo=UTC)
