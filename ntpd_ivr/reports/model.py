"""PSAP answer-time figures over ALL offered calls, abandoned ones included (EU 112 COCOM
reporting; NENA-STA-020.1: 90 % within 15 s, 95 % within 20 s; NFPA 1225: 90 % within
10 s). Pure functions: rows in, figures out.

Answer time = answered_at - arrived_at (from the operator trunk's first event to the
call-taker's connect). A call counts as answered when it has an answer time, or when its
disposition says "answered" (a call reconciled from the CDR, whose answer instant Asterisk
did not record): such calls count as answered but never as "within N s", and are left out
of the averages; ``answered_time_unknown`` says how many there were.

A call closed as ``unconfirmed`` (a FastAGI session for a call that AMI never showed,
calls/confirm.py) is not an offered call: nothing proves a caller was there. It is left
out of every figure, and counted on its own (``unconfirmed``): a number above zero means
someone wrote to FastAGI who should not have, or AMI lost calls.

The reports domain's model: what other domains read (the wall's figures, the API's and the
feed's report, the OpenAPI schema's columns) without its queries or pages: the figures, the
grouped report's names and shape, and a report query's parameters.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ntpd_ivr.calls.values import UNCONFIRMED, information_only
from ntpd_ivr.period import query_period
from ntpd_ivr.stats import percentile

THRESHOLDS = (10, 15, 20)
GROUPINGS = ("day", "week", "month", "region", "category", "agency", "calltaker")
DEFAULT_WITHIN = 20
MAX_WITHIN = 3600
# The figures of each group, in the order of the CSV columns and the table.
# Callback figures (issue 10, part 2: time from abandon to callback, share reached) belong
# here as columns of their own, computed in group_figures() from the group's abandoned
# calls and their callbacks (a ReportCall field filled by load_report_calls); the OpenAPI
# schema (api/openapi.py FIGURES_LINE) takes its properties from this tuple.
COLUMNS = ("group", "offered", "answered", "abandoned", "information_only", "in_progress",
           *(f"answered_within_{t}s_pct" for t in THRESHOLDS), "answered_within_n_pct",
           "average_answer_seconds", "slowest_10pct_average_seconds", "abandon_rate_pct",
           "prank", "prank_pct", "ghost", "ghost_pct", "dispatches",
           "dispatch_answer_within_pct", "dispatch_accept_p50_seconds",
           "dispatch_accept_within_pct", "dispatch_on_scene_p50_seconds",
           "dispatch_on_scene_within_pct")
# A report query's period (the pages, /api/v1/figures): by default and at most.
DEFAULT_DAYS = 7
MAX_DAYS = 400
MAX_REGION_CHARS = 64


@dataclass(frozen=True)
class CallRow:
    arrived_at: datetime
    answered_at: datetime | None = None
    disposition: str | None = None
    ended_at: datetime | None = None
    category: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Figures:
    offered: int
    answered: int
    abandoned: int
    answered_within: dict[int, float | None]  # threshold s -> % of offered
    average_answer_seconds: float | None
    slowest_10pct_average_seconds: float | None
    abandon_rate: float | None  # % of offered
    answered_time_unknown: int
    in_progress: int = 0  # neither answered nor ended yet: not counted as abandoned
    by_disposition: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_region: dict[str, int] = field(default_factory=dict)
    unconfirmed: int = 0  # closed as unconfirmed: not offered, in no other figure
    information_only: int = 0  # surge mode's information, then the IVR hung up: not abandoned

    def as_dict(self) -> dict[str, Any]:
        return {
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "information_only": self.information_only,
            **{f"answered_within_{t}s_pct": v for t, v in self.answered_within.items()},
            "average_answer_seconds": self.average_answer_seconds,
            "slowest_10pct_average_seconds": self.slowest_10pct_average_seconds,
            "abandon_rate_pct": self.abandon_rate,
            "answered_time_unknown": self.answered_time_unknown,
            "in_progress": self.in_progress, "by_disposition": self.by_disposition,
            "by_category": self.by_category, "by_region": self.by_region,
            "unconfirmed": self.unconfirmed,
        }


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _disposition(call: CallRow) -> str:
    if call.disposition:
        return call.disposition
    if call.answered_at is not None:
        return "answered"
    return "in-progress" if call.ended_at is None else "unknown"


def compute_figures(rows: Iterable[CallRow]) -> Figures:
    every = list(rows)
    calls = [c for c in every if c.disposition != UNCONFIRMED]
    offered = len(calls)
    answer_times = sorted(
        max(0.0, (c.answered_at - c.arrived_at).total_seconds())
        for c in calls if c.answered_at is not None)
    unknown = sum(1 for c in calls if c.answered_at is None and c.disposition == "answered")
    answered = len(answer_times) + unknown
    in_progress = sum(1 for c in calls if c.answered_at is None and c.ended_at is None
                      and c.disposition is None)
    served_by_information = sum(1 for c in calls if information_only(
        category=c.category, disposition=c.disposition, answered=c.answered_at is not None))
    abandoned = offered - answered - in_progress - served_by_information
    within = {t: _pct(sum(1 for s in answer_times if s <= t), offered) for t in THRESHOLDS}
    average = round(sum(answer_times) / len(answer_times), 3) if answer_times else None
    slowest: float | None = None
    if answer_times:
        # The slowest tenth, at least one call (COCOM "average of the slowest 10 %").
        count = max(1, math.ceil(len(answer_times) / 10))
        tail = answer_times[-count:]
        slowest = round(sum(tail) / len(tail), 3)
    return Figures(
        offered=offered, answered=answered, abandoned=abandoned, answered_within=within,
        average_answer_seconds=average, slowest_10pct_average_seconds=slowest,
        abandon_rate=_pct(abandoned, offered), answered_time_unknown=unknown,
        in_progress=in_progress,
        by_disposition=dict(sorted(Counter(_disposition(c) for c in calls).items())),
        by_category=dict(sorted(Counter(c.category or "unclassified" for c in calls).items())),
        by_region=dict(sorted(Counter(c.region or "unknown" for c in calls).items())),
        unconfirmed=len(every) - len(calls), information_only=served_by_information)


@dataclass(frozen=True)
class GroupedReport:
    start: datetime
    end: datetime
    by: str
    within: int
    region: str | None
    timezone: str
    groups: list[dict[str, Any]] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, Any] | None = None  # text_figures() of the period's text sessions

    def as_dict(self) -> dict[str, Any]:
        found = {"from": self.start.isoformat(), "to": self.end.isoformat(), "by": self.by,
                 "within_seconds": self.within, "region": self.region,
                 "timezone": self.timezone, "groups": self.groups, "total": self.total}
        if self.texts is not None:
            found["texts"] = self.texts
        return found


def to_json(report: GroupedReport) -> str:
    return json.dumps(report.as_dict(), indent=2)


@dataclass(frozen=True)
class ReportQuery:
    start: datetime
    end: datetime
    by: str
    within: int
    region: str | None


def parse_query(query: Mapping[str, str], now: datetime) -> ReportQuery:
    """The report's parameters, or ValueError naming the bad one."""
    start, end = query_period(query.get("from"), query.get("to"), now, DEFAULT_DAYS)
    if end - start > timedelta(days=MAX_DAYS):
        raise ValueError(f"the period is at most {MAX_DAYS} days")
    by = query.get("by") or "day"
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}")
    raw = query.get("within") or str(DEFAULT_WITHIN)
    if not raw.isdigit() or not 0 < int(raw) <= MAX_WITHIN:
        raise ValueError(f"within must be a whole number of seconds, 1-{MAX_WITHIN}")
    region = query.get("region") or None
    if region is not None and len(region) > MAX_REGION_CHARS:
        raise ValueError(f"region is at most {MAX_REGION_CHARS} characters")
    return ReportQuery(start, end, by, int(raw), region)


# 112 by text (ntpd_ivr/texts): the sessions' own figures, beside the calls'.
TEXT_COLUMNS = ("sessions", "taken", "unanswered", "replied", "in_progress",
                "first_reply_p50_seconds", "first_reply_p90_seconds")


@dataclass(frozen=True)
class TextRow:
    """A text session as the reports read it: its calls row and text_sessions' times."""
    arrived_at: datetime
    category: str | None = None
    region: str | None = None
    ended_at: datetime | None = None
    taken_at: datetime | None = None
    first_reply_at: datetime | None = None
    unanswered_at: datetime | None = None


def _nearest_rank(values: list[float], pct: float) -> float | None:
    return round(percentile(values, pct), 1) if values else None


def text_figures(rows: Iterable[TextRow]) -> dict[str, Any]:
    """Sessions opened in the period: how many were taken, raised as unanswered (the offer
    timed out), replied to, still open; time from the first SMS to the call-taker's first
    reply, p50 and p90 (nearest rank, over the replied ones); sessions by category."""
    rows = list(rows)
    replies = [(r.first_reply_at - r.arrived_at).total_seconds() for r in rows
               if r.first_reply_at is not None]
    return {"sessions": len(rows), "taken": sum(1 for r in rows if r.taken_at is not None),
            "unanswered": sum(1 for r in rows if r.unanswered_at is not None),
            "replied": len(replies),
            "in_progress": sum(1 for r in rows if r.ended_at is None),
            "first_reply_p50_seconds": _nearest_rank(replies, 50),
            "first_reply_p90_seconds": _nearest_rank(replies, 90),
            "by_category": dict(sorted(Counter(r.category or "unclassified"
                                               for r in rows).items()))}
