"""The time period of a query (reports, commitments, the /api/, the command line): one
parser, with errors that say what is wanted (ValueError; the CLI wraps it for argparse)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not an ISO 8601 date or time: {text!r} (e.g. 2026-11-28 or "
            f"2026-11-28T07:00:00+07:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def query_period(start: str | None, end: str | None, now: datetime,
                 default_days: int) -> tuple[datetime, datetime]:
    """A query's `from` and `to`: `to` defaults to now, `from` to default_days before
    `to`; ValueError naming them when they are not times or not in order."""
    try:
        end_at = parse_time(end) if end else now
        start_at = parse_time(start) if start else end_at - timedelta(days=default_days)
    except ValueError as exc:
        raise ValueError(f"from and to: {exc}") from None
    except OverflowError:  # days before 0001-01-01
        raise ValueError("from and to: out of range") from None
    if end_at <= start_at:
        raise ValueError("to must be after from")
    return start_at, end_at
