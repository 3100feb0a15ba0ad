"""A center with real rows in PostgreSQL (calls, incidents, dispositions, dispatches) and
the web app with the reports, /api/v1 and /metrics, for the report, API and feed tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api import http as api_http
from ntpd_ivr.api.tokens import TokenStore
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.dispatch.tables import Dispatch
from ntpd_ivr.eido import http as eido_http
from ntpd_ivr.eido.repository import EidoSource
from ntpd_ivr.eido.service import Subscriptions
from ntpd_ivr.incidents.tables import CallDisposition, Incident
from ntpd_ivr.ops import metrics as ops_metrics
from ntpd_ivr.reports import http as reports_http
from ntpd_ivr.reports.repository import ReportSource
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.texts.tables import TextSession
from tests.protocol.webtools import Client, serving_web

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
CONFIG = load_routing_config(EXAMPLE)
# 2026-11-27 08:00 WIB; the data spans three WIB days.
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
START, END = T0 - timedelta(hours=2), T0 + timedelta(days=3)
TAKERS = {"taker-1": "ani"}


def _call(n: int, at: datetime, answer_after: float | None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "uniqueid": f"1795800000.{n}", "caller_number": f"08111{n:04d}", "dialed": "112",
        "arrived_at": at, "region": "palembang", "category": "fire", "queue": "takers-palembang",
        "ended_at": at + timedelta(seconds=120), "disposition": "abandoned-in-queue",
        "answered_at": None, "answered_by": None}
    if answer_after is not None:
        row.update(answered_at=at + timedelta(seconds=answer_after), answered_by="taker-1",
                   disposition="answered")
    row.update(extra)
    return row


async def seed(engine: AsyncEngine, truncate: bool = True) -> None:
    """12 calls over three days, two regions; dispositions (genuine, prank, silent), two
    incidents dispatched to damkar and dinkes. `truncate=False` adds them to what is there
    (a shared database: the browser tests')."""
    async with engine.begin() as conn:
        if truncate:
            await conn.execute(text(
                "TRUNCATE calls, dispatches, call_dispositions, incidents, audit_events, "
                "api_tokens, feed_outbox, text_sessions, text_messages RESTART IDENTITY"))
        calls = []
        for n, (hours, answer, extra) in enumerate([
                (0, 4, {}), (1, 12, {}), (2, None, {}), (3, 25, {"category": "medical"}),
                (20, 6, {}), (21, 9, {"region": "muba", "category": "medical"}),
                (22, None, {"region": "muba"}), (26, 3, {}), (44, 18, {"category": "medical"}),
                (45, 30, {}), (46, None, {"disposition": "hung-up-in-ivr", "queue": None}),
                (47, 2, {"answered_by": "taker-9"})]):
            calls.append(_call(n, T0 + timedelta(hours=hours), answer, **extra))
        await conn.execute(insert(Call), calls)
        incident = {"region": "palembang", "kecamatan": "Ilir Barat I",
                    "kecamatan_key": "ilir barat i", "description": "x", "severity": "high",
                    "created_by": "ani"}
        numbered = insert(Incident).returning(Incident.id, sort_by_parameter_order=True)
        first, second = (await conn.execute(numbered, [
            {**incident, "category": "fire", "created_at": T0 + timedelta(minutes=1)},
            {**incident, "category": "medical", "created_at": T0 + timedelta(hours=3)}])
        ).scalars()
        await conn.execute(insert(CallDisposition), [
            {"uniqueid": "1795800000.0", "disposition": "genuine", "incident_id": first,
             "set_at": T0, "set_by": "ani"},
            {"uniqueid": "1795800000.1", "disposition": "duplicate", "incident_id": first,
             "set_at": T0, "set_by": "ani"},
            {"uniqueid": "1795800000.3", "disposition": "genuine", "incident_id": second,
             "set_at": T0, "set_by": "ani"},
            {"uniqueid": "1795800000.4", "disposition": "prank", "incident_id": None,
             "set_at": T0, "set_by": "ani"},
            {"uniqueid": "1795800000.7", "disposition": "silent", "incident_id": None,
             "set_at": T0, "set_by": "ani"}])
        d0 = T0 + timedelta(minutes=2)
        await conn.execute(insert(Dispatch), [
            {"incident_id": first, "agency": "palembang-damkar", "region": "palembang",
             "mode": "notify", "status": "on-scene", "proposed": True, "created_at": d0,
             "created_by": "ani", "accepted_at": d0 + timedelta(seconds=40),
             "on_scene_at": d0 + timedelta(minutes=9)},
            {"incident_id": second, "agency": "palembang-dinkes", "region": "palembang",
             "mode": "notify", "status": "accepted", "proposed": True,
             "created_at": T0 + timedelta(hours=3, minutes=2), "created_by": "ani",
             "accepted_at": T0 + timedelta(hours=3, minutes=5), "on_scene_at": None}])


async def seed_information_only(engine: AsyncEngine) -> None:
    """Two calls in surge mode (issue 24) on top of seed()'s: one heard the information and
    the IVR hung up (served: information only), one asked for a call-taker after it and gave
    up in the queue (abandoned)."""
    async with engine.begin() as conn:
        await conn.execute(insert(Call), [
            _call(20, T0 + timedelta(hours=5), None, category="surge-information",
                  route_reason="surge-information", disposition="hung-up-in-ivr", queue=None),
            _call(21, T0 + timedelta(hours=6), None, category="unclassified",
                  route_reason="surge-information-operator")])


# The text sessions seed_texts() writes, as the report's `texts` must count them: two
# replied after 42 s and 90 s (p50 42, p90 90 by nearest rank), one whose offer timed out.
TEXTS = {"sessions": 3, "taken": 2, "unanswered": 1, "replied": 2, "in_progress": 0,
         "first_reply_p50_seconds": 42.0, "first_reply_p90_seconds": 90.0,
         "by_category": {"fire": 2, "medical": 1}}


async def seed_texts(engine: AsyncEngine) -> None:
    """Three ended text sessions (calls rows of medium sms, with their text_sessions row)
    in the seed's period; in none of the voice figures."""
    sessions = [(1, 5, 20, 42, None, "fire"), (2, 25, 60, 90, None, "medical"),
                (3, 30, None, None, 120, "fire")]
    async with engine.begin() as conn:
        for n, hours, taken, reply, unanswered, category in sessions:
            at = T0 + timedelta(hours=hours)
            uniqueid, number = f"sms-report-{n}", f"+62812777700{n:02d}"

            def after(seconds: int | None, at: datetime = at) -> datetime | None:
                return None if seconds is None else at + timedelta(seconds=seconds)

            await conn.execute(insert(Call).values(
                uniqueid=uniqueid, caller_number=number, dialed="112", arrived_at=at,
                region="palembang", category=category, medium="sms",
                ended_at=at + timedelta(minutes=10),
                answered_at=after(taken), answered_by="taker-1" if taken else None,
                disposition="answered" if taken else "abandoned-in-queue"))
            await conn.execute(insert(TextSession).values(
                uniqueid=uniqueid, caller_number=number, opened_at=at, taken_at=after(taken),
                taken_by="ani" if taken else None, first_reply_at=after(reply),
                unanswered_at=after(unanswered), ended_at=at + timedelta(minutes=10),
                ended_by="ani"))


def eido_subscriptions(engine: AsyncEngine) -> Subscriptions:
    """The EIDO routes' service as the eido plugin builds it, over the report's config."""
    return Subscriptions(EidoSource(engine, lambda: CONFIG), lambda: CONFIG, "112.test")


@contextlib.asynccontextmanager
async def serving_center(engine: AsyncEngine, tmp_path: Path,
                         feed: api_http.FeedControl | None = None,
                         ) -> AsyncIterator[tuple[Client, TokenStore]]:
    tokens = TokenStore(engine)
    source = ReportSource(engine, lambda: CONFIG, lambda: TAKERS)
    metrics = ops_metrics.Metrics()

    def extend(app: web.Application) -> None:
        reports_http.add_routes(app, source)
        api_http.add_routes(app, api_http.ApiDeps(engine, tokens, source, feed))
        eido_http.add_routes(app, eido_subscriptions(engine))
        ops_metrics.add_routes(app, metrics)

    async with serving_web(tmp_path, extend=extend) as client:
        yield client, tokens
