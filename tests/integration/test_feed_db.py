"""The monitoring feed against a real HTTPS endpoint (aiohttp with a certificate of the local
CA, ntpd_ivr/stack/tls.py) and a real PostgreSQL outbox: while the endpoint is down (no
listener, then answering 503) the periods are kept, across a restart of the feed; once it
is back they arrive in order, each once, with the bearer token."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.feed.service import MonitoringFeed, period_start
from ntpd_ivr.settings import FeedSettings
from ntpd_ivr.stack.ports import free_port
from ntpd_ivr.stack.tls import ensure_local_ca
from tests.integration.reporting import T0, seed

INTERVAL = timedelta(hours=6)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Ministry:
    """The central monitoring's endpoint: fails the first `refuse` pushes with 503."""
    refuse: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    got_one: asyncio.Event = field(default_factory=asyncio.Event)

    async def push(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer ministry-secret"
        if self.refuse > 0:
            self.refuse -= 1
            return web.Response(status=503, text="maintenance")
        self.received.append(await request.json())
        self.keys.append(request.headers["Idempotency-Key"])
        self.got_one.set()
        return web.json_response({"ok": True})


async def outbox(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(
            "SELECT id, period_start, attempts, delivered_at IS NOT NULL FROM feed_outbox "
            "ORDER BY id"))]


async def test_feed_keeps_pushes_while_the_endpoint_is_down_and_delivers_in_order(
        db_engine: AsyncEngine, tmp_path: Path) -> None:
    await seed(db_engine)
    tls = ensure_local_ca(tmp_path / "ca", "127.0.0.1")
    token = tmp_path / "feed-token"
    token.write_text("ministry-secret\n")
    port = free_port()
    settings = FeedSettings(url=f"https://127.0.0.1:{port}/v1/push", interval_seconds=6 * 3600,
                            ca_file=str(tls.ca_cert), bearer_token_file=str(token),
                            timeout_seconds=3, retry_seconds=0.2, center_id="1671")
    figures_asked: list[tuple[datetime, datetime]] = []

    async def figures(start: datetime, end: datetime) -> dict[str, Any]:
        figures_asked.append((start, end))
        return {"from": start.isoformat(), "to": end.isoformat()}

    clock = Clock(period_start(T0, INTERVAL) + timedelta(minutes=1))
    feed = MonitoringFeed(settings, db_engine, figures, clock)
    assert await feed.tick() == (0, 0)  # the first period is still under way
    clock.now += 3 * INTERVAL
    assert await feed.tick() == (3, 0)  # nobody listens on the port
    assert feed.pending == 3 and "ClientConnectorError" in (feed.last_error or "")
    await feed.stop()

    # The controller restarts; a fourth period ends; the endpoint answers, with 503 twice.
    feed = MonitoringFeed(settings, db_engine, figures, clock)
    clock.now += INTERVAL
    ministry = Ministry(refuse=2)
    app = web.Application()
    app.router.add_post("/v1/push", ministry.push)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    try:
        assert await feed.tick() == (1, 0)  # not listening yet
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
        assert await feed.tick() == (0, 0) and feed.last_error == "HTTP 503: maintenance"
        feed.start()  # its own schedule retries every retry_seconds while pushes wait
        async with asyncio.timeout(60):  # generous: only a missing push reaches it
            while len(ministry.received) < 4:
                ministry.got_one.clear()
                await ministry.got_one.wait()
            # The 4th reply is in; its row is being marked delivered (polling a table).
            for _ in range(1000):
                if all(row[3] for row in await outbox(db_engine)):
                    break
                await asyncio.sleep(0.05)
    finally:
        await feed.stop()
        await runner.cleanup()
    starts = [period_start(T0, INTERVAL) + i * INTERVAL for i in range(4)]
    assert [p["sequence"] for p in ministry.received] == [1, 2, 3, 4]
    assert [p["from"] for p in ministry.received] == [s.isoformat() for s in starts]
    assert {p["center"] for p in ministry.received} == {"1671"}
    assert ministry.keys == [f"1671:{s.isoformat()}" for s in starts]
    rows = await outbox(db_engine)
    assert [(r[0], r[3]) for r in rows] == [(1, True), (2, True), (3, True), (4, True)]
    assert rows[0][2] == 5  # refused twice, then three more failures, then delivered
    assert len(figures_asked) == 4  # each period's figures computed once, kept as sent
