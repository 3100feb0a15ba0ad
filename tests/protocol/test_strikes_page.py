"""The supervisor's strikes page (/strikes) against a real PostgreSQL: who may see it, the
numbers with strikes and their level, and the unblock form: refused without the CSRF
token, with it the strikes are cleared and the unblock is in audit_events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.prank import http as prank_http
from ntpd_ivr.prank import store
from ntpd_ivr.prank.config import PrankPolicy
from ntpd_ivr.prank.service import PrankService
from ntpd_ivr.prank.tables import CallerStrike
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import LiveHub
from tests.protocol.webtools import Client, log_in, serving_web

BLOCKED = "+6281277700021"
WARNED = "+6281277700022"
ROUTING = replace(RoutingConfig.minimal("q"), prank=replace(
    RoutingConfig.minimal("q").prank, default=PrankPolicy(warn_at=1, deprioritise_at=2,
                                                           block_at=3)))


@dataclass
class Served:
    client: Client
    engine: AsyncEngine


async def seed(engine: AsyncEngine, number: str, count: int) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for n in range(count):
            await store.add_strike(conn, store.Strike(number, now - timedelta(minutes=n),
                                                      "prank", "ani"))


@pytest.fixture
async def served(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Served]:
    async with db_engine.begin() as conn:
        await conn.execute(delete(CallerStrike))
        # audit_events is append-only (migration 0014): its owner may only empty it.
        await conn.execute(text("TRUNCATE audit_events"))
    await seed(db_engine, BLOCKED, 3)
    await seed(db_engine, WARNED, 1)
    service = PrankService(db_engine, lambda: ROUTING)

    def domains(users: UserStore, hub: LiveHub) -> tuple[Any, ...]:
        return (prank_http.routes(service),)

    async with serving_web(tmp_path, domains=domains) as client:
        yield Served(client, db_engine)


async def unblocked_by(engine: AsyncEngine, number: str) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(
            select(AuditEvent.actor).where(AuditEvent.action == "prank.unblocked",
                                           AuditEvent.subject_id == number))).scalars())


async def test_only_a_supervisor_may_see_the_page(served: Served) -> None:
    client = served.client
    page = await client.get("/strikes", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/login"
    await log_in(client, "ani")  # a call-taker
    assert (await client.get("/strikes", allow_redirects=False)).status == 403
    assert (await client.post("/api/strikes/unblock", data={"number": BLOCKED},
                              allow_redirects=False)).status == 403


async def test_the_page_lists_levels_and_unblocks_only_with_the_csrf_token(
        served: Served) -> None:
    client, engine = served.client, served.engine
    headers = await log_in(client, "budi")
    page = await client.get("/strikes")
    assert page.status == 200
    text = await page.text()
    assert f'data-number="{BLOCKED}" data-level="block"' in text
    assert "diblokir sampai" in text  # Bahasa Indonesia by default
    assert f'data-number="{WARNED}" data-level="deprioritise"' not in text
    assert f'data-number="{WARNED}" data-level="warn"' in text

    # The form without its token: refused, nothing cleared, nothing audited.
    refused = await client.post("/api/strikes/unblock", data={"number": BLOCKED},
                                allow_redirects=False)
    assert refused.status == 403
    assert await unblocked_by(engine, BLOCKED) == []
    assert f'data-number="{BLOCKED}"' in await (await client.get("/strikes")).text()

    # With it: 303 back to the page, where the number is gone; the unblock is audited.
    done = await client.post("/api/strikes/unblock", allow_redirects=False, data={
        "number": BLOCKED, "csrf_token": headers["X-CSRF-Token"]})
    assert done.status == 303 and done.headers["Location"] == "/strikes"
    assert await unblocked_by(engine, BLOCKED) == ["budi"]
    text = await (await client.get("/strikes")).text()
    assert f'data-number="{BLOCKED}"' not in text
    assert f'data-number="{WARNED}"' in text
    async with engine.connect() as conn:
        open_strikes = (await conn.execute(select(CallerStrike.id).where(
            CallerStrike.number == BLOCKED, CallerStrike.cleared_at.is_(None)))).all()
    assert open_strikes == []


async def test_the_page_in_english(served: Served) -> None:
    client = served.client
    headers = await log_in(client, "budi")
    switched = await client.post("/lang", allow_redirects=False, data={
        "lang": "en", "next": "/strikes", "csrf_token": headers["X-CSRF-Token"]})
    assert switched.status == 303
    text = await (await client.get("/strikes")).text()
    assert "Numbers with strikes" in text and "blocked until" in text and "Unblock" in text
