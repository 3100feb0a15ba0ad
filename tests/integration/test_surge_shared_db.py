"""Surge mode across two controllers (issue 24): the two nodes of `make run-ha` share one
PostgreSQL, and surge mode is one row there (migration 0020). Two AlertServices, each
with its own engine (two processes' pools), on a private PostgreSQL that the test stops
under them: a supervisor's change through one reaches the other's IVR within a few sync
periods; with the database away the last state holds (the IVR's read never waits) and a
change is refused; surge mode's end by itself is written once for the center."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.alerts.service import AlertService, AuditUnavailable
from ntpd_ivr.clock import utcnow
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.settings import AlertsSettings, DatabaseSettings
from tests.boundaries import EXAMPLE
from tests.cap_samples import Replay
from tests.conftest import RunningPostgres
from tests.waiting import eventually

SYNC_S = 0.2
START = datetime(2000, 1, 1, tzinfo=UTC)  # a private database: every entry is this test's


@asynccontextmanager
async def two_controllers(url: str) -> AsyncIterator[tuple[AlertService, AlertService,
                                                           dict[str, list[str]]]]:
    routing = load_routing_config(EXAMPLE)
    settings = AlertsSettings(surge_sync_seconds=SYNC_S)
    news: dict[str, list[str]] = {"a": [], "b": []}
    engines: list[AsyncEngine] = []
    nodes: list[AlertService] = []
    for name in ("a", "b"):
        engine = make_engine(DatabaseSettings(url=url, connect_timeout_seconds=1))
        engines.append(engine)
        node = AlertService(engine, settings, lambda: routing,
                            surge_changed=lambda e, n=name: news[n].append(e.action))
        node.db_timeout = 2.0
        await node.start()
        nodes.append(node)
    try:
        yield nodes[0], nodes[1], news
    finally:
        for node in nodes:
            await node.stop()
        for engine in engines:
            await engine.dispose()


async def surge_actions(url: str, since: datetime) -> list[tuple[str, str]]:
    engine = make_engine(DatabaseSettings(url=url))
    try:
        async with engine.connect() as conn:
            return [(r.action, r.actor) for r in await conn.execute(text(
                "SELECT action, actor FROM audit_events WHERE subject_type = 'surge' "
                "AND at >= :since ORDER BY id"), {"since": since})]
    finally:
        await engine.dispose()


async def test_surge_mode_through_one_node_reaches_the_other_and_holds_without_the_database(
        postgres_factory: Callable[[], Awaitable[RunningPostgres]]) -> None:
    private = await postgres_factory()
    async with two_controllers(private.url) as (a, b, news):
        alert_id = await a.handle(Replay().body("inatews_gempa_m58.xml"), "test")
        assert alert_id is not None
        assert a.current() is None and b.current() is None

        # A supervisor on node a: node b's callers hear the announcement too.
        on = await a.turn_on(alert_id, "spv-a")
        await eventually(lambda: b.current() is not None, "node b sees surge mode on")
        seen = b.current()
        assert seen == on and seen.region == "muba" and seen.started_by == "spv-a"
        assert news["a"] == ["on"] and news["b"] == ["on"]  # b renders the alert's audio

        # Renewed through node b: node a takes the new end, the start is kept.
        renewed = await b.turn_on(alert_id, "spv-b")
        assert renewed.started_at == on.started_at and renewed.ends_at > on.ends_at
        await eventually(lambda: a.current() == renewed, "node a sees the renewal")
        assert news["a"][-1] == "renewed"

        # The database away: the last state holds on both, and the IVR's read never waits;
        # a supervisor's change is refused (it could not be shared nor audited).
        await asyncio.to_thread(private.server.stop)
        failed = b.counters["surge_sync_failed"]
        await eventually(lambda: b.counters["surge_sync_failed"] >= failed + 2,
                         "node b's reads fail, bounded")
        started = time.monotonic()
        for _ in range(1000):
            assert b.current() == renewed and a.current() == renewed
        assert time.monotonic() - started < 0.5
        with pytest.raises(AuditUnavailable):
            await a.turn_off("spv-a")
        assert a.current() == renewed

        # Back: ended through node a, node b follows.
        await asyncio.to_thread(private.server.start)
        ended = await a.turn_off("spv-a")
        assert ended == renewed and a.current() is None
        await eventually(lambda: b.current() is None, "node b sees surge mode off")
        assert news["b"][-1] == "off"
    assert await surge_actions(private.url, START) == [
        ("surge.on", "spv-a"), ("surge.renewed", "spv-b"), ("surge.off", "spv-a")]


async def test_surge_mode_ending_by_itself_is_written_once_for_the_center(
        db_engine: AsyncEngine, postgres: RunningPostgres) -> None:
    since = utcnow()
    async with db_engine.begin() as conn:  # the session's database: surge mode off first
        await conn.execute(text(
            "UPDATE surge_state SET version = version + 1, alert_id = NULL, "
            "started_at = NULL, ends_at = NULL"))
    async with two_controllers(postgres.url) as (a, b, news):
        alert_id = await a.handle(Replay().body("inatews_gempa_m58.xml"), "test")
        assert alert_id is not None
        alert, _ = await a.alert(alert_id)
        # The rule's path with a short time (the routing config's are whole minutes).
        await a._turn_on(alert_id, alert, "rule", region="muba", minutes=0.05)  # 3 s
        await eventually(lambda: b.current() is not None, "node b sees surge mode on")
        await eventually(lambda: a.current() is None and b.current() is None,
                         "surge mode ends by itself on both nodes")
        await eventually(lambda: news["a"][-1:] == ["expired"] and news["b"][-1:] == [
            "expired"], "both nodes tell the wall it expired")
        await asyncio.sleep(5 * SYNC_S)  # the loser's write would have come by now
    assert await surge_actions(postgres.url, since) == [("surge.on", "rule"),
                                                        ("surge.expired", "controller")]

