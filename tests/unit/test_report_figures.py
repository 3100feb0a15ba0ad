"""The answer-time figures, table by table (pure function, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ntpd_ivr.reports.model import CallRow, compute_figures
from ntpd_ivr.reports.report import render

T0 = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)


def answered(seconds: float, **kw: str) -> CallRow:
    return CallRow(arrived_at=T0, answered_at=T0 + timedelta(seconds=seconds),
                   ended_at=T0 + timedelta(seconds=seconds + 30), disposition="answered", **kw)


def abandoned(disposition: str = "abandoned-in-queue", **kw: str) -> CallRow:
    return CallRow(arrived_at=T0, ended_at=T0 + timedelta(seconds=40),
                   disposition=disposition, **kw)


@pytest.mark.parametrize(("rows", "expected"), [
    # Nothing offered: no rates, no averages (never a division by zero).
    ([], {"offered": 0, "answered": 0, "abandoned": 0, "answered_within_10s_pct": None,
          "average_answer_seconds": None, "abandon_rate_pct": None}),
    # Abandoned calls are in the denominator: 2 of 4 within 10 s is 50 %, not 100 %.
    ([answered(3), answered(8), abandoned(), abandoned("hung-up-in-ivr")],
     {"offered": 4, "answered": 2, "abandoned": 2, "answered_within_10s_pct": 50.0,
      "answered_within_20s_pct": 50.0, "average_answer_seconds": 5.5,
      "slowest_10pct_average_seconds": 8.0, "abandon_rate_pct": 50.0}),
    # Thresholds are inclusive; 10/15/20 s each count their own calls.
    ([answered(10), answered(15), answered(20), answered(21)],
     {"answered_within_10s_pct": 25.0, "answered_within_15s_pct": 50.0,
      "answered_within_20s_pct": 75.0, "average_answer_seconds": 16.5}),
    # Slowest 10 % of 20 answered calls = the 2 slowest.
    ([answered(s) for s in range(1, 21)],
     {"slowest_10pct_average_seconds": 19.5, "average_answer_seconds": 10.5,
      "answered_within_10s_pct": 50.0}),
    # A reconciled answered call without an answer instant: answered, never "within".
    ([CallRow(arrived_at=T0, ended_at=T0, disposition="answered"), answered(2)],
     {"answered": 2, "answered_time_unknown": 1, "answered_within_10s_pct": 50.0,
      "average_answer_seconds": 2.0, "abandoned": 0}),
    # Surge mode's information, then the IVR hung up: served, not abandoned (issue 24); a
    # caller about the alert who then pressed 0 and gave up in the queue is abandoned.
    ([abandoned("hung-up-in-ivr", category="surge-information"),
      abandoned("abandoned-in-queue", category="surge-information"),
      abandoned("hung-up-in-ivr"), answered(4, category="surge-information")],
     {"offered": 4, "answered": 1, "abandoned": 2, "information_only": 1,
      "abandon_rate_pct": 50.0}),
    # A call still ringing in the queue is neither answered nor abandoned yet.
    ([CallRow(arrived_at=T0), abandoned()],
     {"offered": 2, "in_progress": 1, "abandoned": 1, "abandon_rate_pct": 50.0}),
])
def test_figures(rows: list[CallRow], expected: dict[str, object]) -> None:
    figures = compute_figures(rows).as_dict()
    assert {key: figures[key] for key in expected} == expected


def test_counts_per_category_and_region() -> None:
    figures = compute_figures([answered(1, category="fire", region="muba"),
                               abandoned(category="fire", region="palembang"),
                               abandoned()])
    assert figures.by_category == {"fire": 2, "unclassified": 1}
    assert figures.by_region == {"muba": 1, "palembang": 1, "unknown": 1}
    assert figures.by_disposition == {"abandoned-in-queue": 2, "answered": 1}


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_every_format_shows_the_figures(fmt: str) -> None:
    text = render(compute_figures([answered(3), abandoned()]), fmt, start=T0,
                  end=T0 + timedelta(days=1), region=None)
    assert "50" in text and ("abandon" in text)


def test_unconfirmed_calls_are_not_offered_and_counted_apart() -> None:
    """A FastAGI session for a call AMI never showed (calls/confirm.py): no caller was
    proven, so it is in no figure; it is counted on its own."""
    forged = CallRow(arrived_at=T0, ended_at=T0 + timedelta(seconds=5),
                     disposition="unconfirmed", category="ambulance", region="sumsel")
    real = [answered(3), abandoned()]
    with_forged = compute_figures([*real, forged, forged])
    assert with_forged.unconfirmed == 2
    assert {**with_forged.as_dict(), "unconfirmed": 0} == compute_figures(real).as_dict()
    text = render(with_forged, "text", start=T0, end=T0 + timedelta(days=1), region=None)
    assert "unconfirmed (not offered)    2" in text
    assert "unconfirmed" not in render(compute_figures(real), "text", start=T0,
                                       end=T0 + timedelta(days=1), region=None)
