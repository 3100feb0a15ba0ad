"""Each agency's dispatches against its signed commitment (routing config
`regions.<r>.agencies.<a>.commitment`). Pure figures, and the one query that feeds them.

Per agency, and per region over its agencies: how many dispatches, and for time to answer
(the center's call answered on the agency trunk, "connect" dispatches only), time to accept
and time to on scene, all counted from the dispatch: p50 and p90 (nearest rank) over the
dispatches that reached the step, and the share of dispatches within the commitment. Like
the EU 112 answer-time figures, the share is over every dispatch, not only those that
reached the step: a dispatch refused, timed out or never on scene counts as not within.
Cancelled dispatches (the call-taker withdrew them) count nowhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.dispatch.tables import Dispatch
from ntpd_ivr.routing.config import Commitment, RoutingConfig

ALL_AGENCIES = "*"
STEPS = (("answer", "answered_at", "answer_seconds"),
         ("accept", "accepted_at", "accept_seconds"),
         ("on_scene", "on_scene_at", "on_scene_seconds"))


@dataclass(frozen=True)
class DispatchRow:
    agency: str
    region: str
    mode: str
    status: str
    created_at: datetime
    answered_at: datetime | None = None
    accepted_at: datetime | None = None
    on_scene_at: datetime | None = None


@dataclass(frozen=True)
class StepFigures:
    reached: int                 # dispatches that reached the step
    p50_seconds: float | None
    p90_seconds: float | None
    commitment_seconds: int | None  # the line's agency's (None: several agencies, or none)
    within_pct: float | None     # % of the dispatches (with a commitment) within it


@dataclass(frozen=True)
class AgencyFigures:
    region: str
    agency: str                  # ALL_AGENCIES for the region's own line
    name: str
    dispatches: int
    answer: StepFigures
    accept: StepFigures
    on_scene: StepFigures

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest rank: the smallest value with at least pct % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _step(rows: Sequence[DispatchRow], column: str, limit_key: str,
          commitments: dict[str, Commitment], connect_only: bool) -> StepFigures:
    eligible = [r for r in rows if r.mode == "connect" or not connect_only]
    times: list[tuple[DispatchRow, float]] = []
    for row in eligible:
        at: datetime | None = getattr(row, column)
        if at is not None:
            times.append((row, max(0.0, (at - row.created_at).total_seconds())))
    committed = [r for r in eligible
                 if getattr(commitments.get(r.agency, Commitment()), limit_key) is not None]
    within = sum(1 for row, seconds in times
                 if (limit := getattr(commitments.get(row.agency, Commitment()), limit_key))
                 is not None and seconds <= limit)
    agencies = {r.agency for r in rows}
    own = (getattr(commitments.get(next(iter(agencies)), Commitment()), limit_key)
           if len(agencies) == 1 else None)
    values = [seconds for _, seconds in times]
    return StepFigures(
        reached=len(times), p50_seconds=percentile(values, 50),
        p90_seconds=percentile(values, 90), commitment_seconds=own,
        within_pct=round(100.0 * within / len(committed), 2) if committed else None)


def _figures(region: str, agency: str, name: str, rows: Sequence[DispatchRow],
             commitments: dict[str, Commitment]) -> AgencyFigures:
    steps = {step: _step(rows, column, key, commitments, connect_only=step == "answer")
             for step, column, key in STEPS}
    return AgencyFigures(region=region, agency=agency, name=name, dispatches=len(rows),
                         answer=steps["answer"], accept=steps["accept"],
                         on_scene=steps["on_scene"])


def overall(rows: Iterable[DispatchRow], config: RoutingConfig, label: str) -> AgencyFigures:
    """One line over these dispatches whatever their agency (a report group's), cancelled
    ones left out as in compute()."""
    counted = [r for r in rows if r.status != "cancelled"]
    commitments = {key: agency.commitment for key, agency in config.agencies.items()}
    return _figures(label, ALL_AGENCIES, label, counted, commitments)


def compute(rows: Iterable[DispatchRow], config: RoutingConfig) -> list[AgencyFigures]:
    """One line per agency that had dispatches, then one per region (agency "*"), sorted by
    region then agency."""
    counted = [r for r in rows if r.status != "cancelled"]
    commitments = {key: agency.commitment for key, agency in config.agencies.items()}
    lines: list[AgencyFigures] = []
    for region in sorted({r.region for r in counted}):
        in_region = [r for r in counted if r.region == region]
        for agency in sorted({r.agency for r in in_region}):
            known = config.agencies.get(agency)
            lines.append(_figures(region, agency, known.name if known else agency,
                                  [r for r in in_region if r.agency == agency], commitments))
        region_name = config.regions[region].name if region in config.regions else region
        lines.append(_figures(region, ALL_AGENCIES, region_name, in_region, commitments))
    return lines


async def load_dispatches(engine: AsyncEngine, start: datetime, end: datetime, *,
                          agency: str | None = None, region: str | None = None
                          ) -> list[DispatchRow]:
    """Dispatches created in [start, end)."""
    d = Dispatch.__table__
    query = select(d.c.agency, d.c.region, d.c.mode, d.c.status, d.c.created_at,
                   d.c.answered_at, d.c.accepted_at, d.c.on_scene_at).where(
        d.c.created_at >= start, d.c.created_at < end)
    if agency is not None:
        query = query.where(d.c.agency == agency)
    if region is not None:
        query = query.where(d.c.region == region)
    async with engine.connect() as conn:
        return [DispatchRow(*row) for row in await conn.execute(query)]


def flat(value: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    """Nested figures as (dotted.key, value) pairs, for CSV."""
    for key, item in value.items():
        if isinstance(item, Mapping):
            yield from flat(item, f"{prefix}.{key}")
        elif key not in ("region", "agency"):
            yield f"{prefix}.{key}", item


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:g}{unit}"


def render_table(lines: Sequence[AgencyFigures]) -> str:
    """The text table `ntpd-ivr report` prints."""
    out = ["Agency commitments (p50 / p90 of the time from dispatch; % within the commitment)",
           f"  {'region':<12} {'agency':<22} {'disp':>4}  {'answer':<24} {'accept':<24} "
           f"{'on scene':<24}"]
    if not lines:
        out.append("  no dispatches in the period")
    for line in lines:
        cells = []
        for step in (line.answer, line.accept, line.on_scene):
            cells.append(f"{_fmt(step.p50_seconds, 's')}/{_fmt(step.p90_seconds, 's')} "
                         f"{_fmt(step.within_pct, '%')}"
                         + (f" (<={step.commitment_seconds}s)"
                            if step.commitment_seconds else ""))
        agency = "all" if line.agency == ALL_AGENCIES else line.agency
        out.append(f"  {line.region:<12} {agency:<22} {line.dispatches:>4}  "
                   + " ".join(f"{c:<24}" for c in cells).rstrip())
    return "\n".join(out)
