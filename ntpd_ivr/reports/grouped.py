"""The report by day, week, month, region, category, agency or call-taker: per group, the
answer-time figures of model.py over all offered calls, the call-takers' dispositions
(prank and silent, "ghost", shares) and the dispatches against the agencies' commitments
(incidents/commitments.py). One function makes the figures; `ntpd-ivr report --by`, the
/reports page, its CSV and JSON and /api/v1/figures all print what it returns.

Which group a call and a dispatch fall in:
- day, week (ISO), month: the call's arrival and the dispatch's creation, in the center's
  time zone (the routing config's, WIB by default);
- region, category: the call's; a dispatch's region, and its incident's category;
- agency: a dispatch's agency; a call falls under every agency its incident was dispatched
  to (so the groups' calls may add up to more than the total), "none" when not dispatched;
- calltaker: who answered the call (the queue member, mapped to the web user who has that
  SIP endpoint), "unanswered" for the others; a dispatch's call-taker is who created it.
Only groups with calls or dispatches appear; the last line, "all", is over the period.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.calls.repository import period_query
from ntpd_ivr.dispatch.tables import Dispatch
from ntpd_ivr.incidents import commitments
from ntpd_ivr.incidents.commitments import DispatchRow
from ntpd_ivr.incidents.tables import CallDisposition, Incident
from ntpd_ivr.reports.model import (
    COLUMNS,
    GROUPINGS,
    MAX_WITHIN,
    THRESHOLDS,
    CallRow,
    GroupedReport,
    TextRow,
    compute_figures,
    text_figures,
    to_json,
)
from ntpd_ivr.reports.report import texts_table
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.texts.tables import TextSession

TOTAL = "all"
GHOST = "silent"  # the call-takers' disposition for a ghost call


@dataclass(frozen=True)
class ReportCall:
    call: CallRow
    answered_by: str | None = None
    taker_disposition: str | None = None  # call_dispositions.disposition
    agencies: tuple[str, ...] = ()        # dispatched for the call's incident


@dataclass(frozen=True)
class ReportDispatch:
    dispatch: DispatchRow
    category: str            # its incident's
    created_by: str


def period_key(by: str, at: datetime, zone: tzinfo) -> str:
    local = at.astimezone(zone)
    if by == "day":
        return local.date().isoformat()
    if by == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def group_figures(name: str, calls: Sequence[ReportCall], dispatches: Sequence[ReportDispatch],
                  within: int, config: RoutingConfig) -> dict[str, Any]:
    figures = compute_figures(c.call for c in calls)
    fast = sum(1 for c in calls if c.call.answered_at is not None
               and (c.call.answered_at - c.call.arrived_at).total_seconds() <= within)
    prank = sum(1 for c in calls if c.taker_disposition == "prank")
    ghost = sum(1 for c in calls if c.taker_disposition == GHOST)
    line = commitments.overall([d.dispatch for d in dispatches], config, name)
    return {
        "group": name, "offered": figures.offered, "answered": figures.answered,
        "abandoned": figures.abandoned, "information_only": figures.information_only,
        "in_progress": figures.in_progress,
        **{f"answered_within_{t}s_pct": figures.answered_within[t] for t in THRESHOLDS},
        "answered_within_n_pct": _pct(fast, figures.offered),
        "average_answer_seconds": figures.average_answer_seconds,
        "slowest_10pct_average_seconds": figures.slowest_10pct_average_seconds,
        "abandon_rate_pct": figures.abandon_rate,
        "prank": prank, "prank_pct": _pct(prank, figures.offered),
        "ghost": ghost, "ghost_pct": _pct(ghost, figures.offered),
        "dispatches": line.dispatches,
        "dispatch_answer_within_pct": line.answer.within_pct,
        "dispatch_accept_p50_seconds": line.accept.p50_seconds,
        "dispatch_accept_within_pct": line.accept.within_pct,
        "dispatch_on_scene_p50_seconds": line.on_scene.p50_seconds,
        "dispatch_on_scene_within_pct": line.on_scene.within_pct,
    }


def _call_keys(by: str, call: ReportCall, zone: tzinfo,
               takers: Mapping[str, str]) -> Iterable[str]:
    row = call.call
    if by in ("day", "week", "month"):
        return (period_key(by, row.arrived_at, zone),)
    if by == "region":
        return (row.region or "unknown",)
    if by == "category":
        return (row.category or "unclassified",)
    if by == "agency":
        return call.agencies or ("none",)
    if call.answered_by is None:
        return ("unanswered",)
    return (takers.get(call.answered_by, call.answered_by),)


def _dispatch_key(by: str, item: ReportDispatch, zone: tzinfo) -> str:
    d = item.dispatch
    if by in ("day", "week", "month"):
        return period_key(by, d.created_at, zone)
    return {"region": d.region, "category": item.category, "agency": d.agency,
            "calltaker": item.created_by}[by]


def compute_report(calls: Sequence[ReportCall], dispatches: Sequence[ReportDispatch], *,
                   by: str, within: int, config: RoutingConfig, start: datetime,
                   end: datetime, region: str | None = None,
                   takers: Mapping[str, str] | None = None) -> GroupedReport:
    """`takers`: SIP endpoint -> web user name, for the calltaker grouping."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    if not 0 < within <= MAX_WITHIN:
        raise ValueError(f"within must be 1-{MAX_WITHIN} seconds, got {within}")
    zone = config.zone
    call_groups: dict[str, list[ReportCall]] = defaultdict(list)
    dispatch_groups: dict[str, list[ReportDispatch]] = defaultdict(list)
    for call in calls:
        for key in _call_keys(by, call, zone, takers or {}):
            call_groups[key].append(call)
    for item in dispatches:
        dispatch_groups[_dispatch_key(by, item, zone)].append(item)
    names = sorted(call_groups.keys() | dispatch_groups.keys())
    return GroupedReport(
        start=start, end=end, by=by, within=within, region=region, timezone=config.timezone,
        groups=[group_figures(n, call_groups.get(n, []), dispatch_groups.get(n, []), within,
                              config) for n in names],
        total=group_figures(TOTAL, calls, dispatches, within, config))


async def load_report_calls(engine: AsyncEngine, start: datetime, end: datetime,
                            region: str | None = None) -> list[ReportCall]:
    """Every call that arrived in [start, end) with its call-taker's disposition and the
    agencies its incident went to (cancelled dispatches left out)."""
    cd, d = CallDisposition.__table__, Dispatch.__table__
    query = period_query(start, end, region, "answered_by", join=(cd, cd.c.uniqueid),
                         joined=(cd.c.disposition, cd.c.incident_id))
    async with engine.connect() as conn:
        rows = list(await conn.execute(query))
        incidents = {row[8] for row in rows if row[8] is not None}
        agencies: dict[int, set[str]] = defaultdict(set)
        if incidents:
            for incident_id, agency in await conn.execute(
                    select(d.c.incident_id, d.c.agency).where(
                        d.c.incident_id.in_(incidents), d.c.status != "cancelled")):
                agencies[incident_id].add(agency)
    return [ReportCall(CallRow(*row[:6]), answered_by=row[6], taker_disposition=row[7],
                       agencies=tuple(sorted(agencies.get(row[8], ()))))
            for row in rows]


async def load_report_dispatches(engine: AsyncEngine, start: datetime, end: datetime,
                                 region: str | None = None) -> list[ReportDispatch]:
    """Dispatches created in [start, end), with their incident's category."""
    d, i = Dispatch.__table__, Incident.__table__
    query = (select(d.c.agency, d.c.region, d.c.mode, d.c.status, d.c.created_at,
                    d.c.answered_at, d.c.accepted_at, d.c.on_scene_at, i.c.category,
                    d.c.created_by)
             .join(i, i.c.id == d.c.incident_id)
             .where(d.c.created_at >= start, d.c.created_at < end))
    if region is not None:
        query = query.where(d.c.region == region)
    async with engine.connect() as conn:
        return [ReportDispatch(DispatchRow(*row[:8]), row[8], row[9])
                for row in await conn.execute(query)]


async def build_report(engine: AsyncEngine, config: RoutingConfig, *, by: str, within: int,
                       start: datetime, end: datetime, region: str | None = None,
                       takers: Mapping[str, str] | None = None) -> GroupedReport:
    """The one path from the database to a report, for the CLI, the pages and the API."""
    calls = await load_report_calls(engine, start, end, region)
    dispatches = await load_report_dispatches(engine, start, end, region)
    report = compute_report(calls, dispatches, by=by, within=within, config=config,
                            start=start, end=end, region=region, takers=takers)
    texts = text_figures(await load_text_rows(engine, start, end, region))
    return dataclasses.replace(report, texts=texts)


async def load_text_rows(engine: AsyncEngine, start: datetime, end: datetime,
                         region: str | None = None) -> list[TextRow]:
    """The text sessions (calls rows of medium sms) that opened in [start, end)."""
    ts = TextSession.__table__
    query = period_query(start, end, region, join=(ts, ts.c.uniqueid),
                         joined=(ts.c.taken_at, ts.c.first_reply_at, ts.c.unanswered_at),
                         medium="sms")
    async with engine.connect() as conn:
        return [TextRow(arrived_at=row[0], category=row[4], region=row[5], ended_at=row[3],
                        taken_at=row[6], first_reply_at=row[7], unanswered_at=row[8])
                for row in await conn.execute(query)]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def to_csv(report: GroupedReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for line in [*report.groups, report.total]:
        writer.writerow([_cell(line[c]) for c in COLUMNS])
    return out.getvalue()


def _short(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def to_table(report: GroupedReport) -> str:
    head = (f"112 calls from {report.start.isoformat()} to {report.end.isoformat()} by "
            f"{report.by}" + (f", region {report.region}" if report.region else "")
            + f" ({report.timezone}); N = {report.within} s")
    out = [head, f"  {'group':<22} {'offered':>7} {'answ':>5} {'aband':>5} {'info':>5} "
                 f"{'<=N s':>7} "
                 f"{'<=10 s':>7} {'abandon':>7} {'prank':>7} {'ghost':>7} {'disp':>4} "
                 f"{'accept ok':>9} {'scene ok':>9}"]
    for line in [*report.groups, report.total]:
        out.append(f"  {line['group']:<22} {line['offered']:>7} {line['answered']:>5} "
                   f"{line['abandoned']:>5} {line['information_only']:>5} "
                   f"{_short(line['answered_within_n_pct'], '%'):>7} "
                   f"{_short(line['answered_within_10s_pct'], '%'):>7} "
                   f"{_short(line['abandon_rate_pct'], '%'):>7} "
                   f"{_short(line['prank_pct'], '%'):>7} {_short(line['ghost_pct'], '%'):>7} "
                   f"{line['dispatches']:>4} "
                   f"{_short(line['dispatch_accept_within_pct'], '%'):>9} "
                   f"{_short(line['dispatch_on_scene_within_pct'], '%'):>9}")
    if report.texts is not None:
        out += ["", *texts_table(report.texts)]
    return "\n".join(out)


RENDERERS: dict[str, Callable[[GroupedReport], str]] = {
    "csv": to_csv, "json": to_json, "table": to_table}


def taker_names(users: Iterable[Any]) -> dict[str, str]:
    """SIP endpoint -> web user name, from the users file's users (web/auth.py User)."""
    return {u.sip_endpoint: u.name for u in users if getattr(u, "sip_endpoint", None)}
