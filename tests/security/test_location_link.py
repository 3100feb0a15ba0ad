"""Attacks on the location link's public page (issue 21 item 3): the real page app on its
own listener on a free port, the real link service on PostgreSQL. The token is single use
and expires; an unknown, reused or expired one gets the same bare 404; every other route
is 404; every answer carries the strict CSP; the fix reaches the link's call."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.calls.tables import Call
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.location.events import FixArrived
from ntpd_ivr.location.fixes import Fixes
from ntpd_ivr.location.link import CSP, LinkRefused, Links, link_app
from ntpd_ivr.location.tables import LocationFixRow, LocationLink
from ntpd_ivr.settings import DatabaseSettings
from ntpd_ivr.web.listener import Listener

if TYPE_CHECKING:
    from tests.conftest import RunningPostgres

CALLER = "+6281234567890"
POSITION = {"lat": -2.9765, "lon": 104.775, "accuracy": 14.5}


@dataclass
class Rig:
    url: str
    links: Links
    engine: AsyncEngine
    session: aiohttp.ClientSession
    clock: list[datetime]
    sms: list[tuple[str, str, str]] = field(default_factory=list)
    announced: list[FixArrived] = field(default_factory=list)

    async def send(self) -> str:
        """A link for call 1.1, as the desk's button sends it; its token, read from the SMS."""
        await self.links.send("1.1", "0812-3456-7890", "ani")
        found = re.search(r"/l/([A-Za-z0-9_-]+) ", self.sms[-1][1])
        assert found is not None, self.sms[-1]
        return found.group(1)


@pytest.fixture
async def rig(postgres: RunningPostgres) -> AsyncIterator[Rig]:
    engine = make_engine(DatabaseSettings(url=postgres.url))
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE calls, location_links, location_fixes "
                                "RESTART IDENTITY CASCADE"))
        await conn.execute(insert(Call).values(uniqueid="1.1", caller_number=CALLER,
                                               arrived_at=datetime.now(UTC)))
    clock = [datetime.now(UTC)]
    sms: list[tuple[str, str, str]] = []
    announced: list[FixArrived] = []

    async def enqueue(to: str, body: str, purpose: str) -> int:
        sms.append((to, body, purpose))
        return len(sms)

    fixes = Fixes(engine, 600.0, publish=announced.append)
    links = Links(engine, enqueue, fixes.receive, base_url="https://lokasi.112.example/",
                  minutes=30, now=lambda: clock[0])
    listener = Listener(link_app(links, rate_per_minute=1000), "127.0.0.1", 0)
    await listener.start()
    async with aiohttp.ClientSession() as session:
        yield Rig(f"http://127.0.0.1:{listener.port}", links, engine, session, clock, sms,
                  announced)
    await listener.stop()
    await engine.dispose()


async def test_the_link_sms_is_in_bahasa_indonesia_and_carries_a_long_token(rig: Rig) -> None:
    token = await rig.send()
    [(to, body, purpose)] = rig.sms
    assert (to, purpose) == (CALLER, "location-link")
    assert body.startswith("112: Buka tautan ini") and "berlaku 30 menit" in body
    assert f"https://lokasi.112.example/l/{token}" in body and len(token) >= 32
    async with rig.engine.connect() as conn:
        [stored] = (await conn.execute(select(LocationLink.token_hash))).scalars().all()
    assert token not in stored  # only its hash is kept


async def test_the_page_asks_and_its_post_reaches_the_call_once(rig: Rig) -> None:
    token = await rig.send()
    async with rig.session.get(f"{rig.url}/l/{token}") as page:
        assert page.status == 200 and page.headers["Content-Security-Policy"] == CSP
        html = await page.text()
    assert '<script src="/l.js">' in html and "Kirim lokasi" in html
    assert "http" not in html.replace('content="width', "")  # no third-party asset
    async with rig.session.get(f"{rig.url}/l.js") as script:
        assert script.status == 200 and "getCurrentPosition" in await script.text()
    async with rig.session.post(f"{rig.url}/l/{token}", json=POSITION) as reply:
        assert reply.status == 200
    [arrived] = rig.announced
    assert arrived.call == "1.1"
    assert (arrived.fix.source, arrived.fix.lat, arrived.fix.radius_m) == ("link", -2.9765, 14.5)
    async with rig.engine.connect() as conn:
        [row] = (await conn.execute(select(LocationFixRow.__table__))).all()
    assert (row.source, row.call_uniqueid, row.caller_number) == ("link", "1.1", CALLER)
    # Reused: the same bare 404, for the page and the post; nothing more stored.
    async with rig.session.post(f"{rig.url}/l/{token}", json=POSITION) as reply:
        assert reply.status == 404
    async with rig.session.get(f"{rig.url}/l/{token}") as page:
        assert page.status == 404 and "sudah dipakai atau kedaluwarsa" in await page.text()
    assert len(rig.announced) == 1


async def test_an_expired_token_is_refused(rig: Rig) -> None:
    token = await rig.send()
    rig.clock[0] += timedelta(minutes=30, seconds=1)
    async with rig.session.get(f"{rig.url}/l/{token}") as page:
        assert page.status == 404
    async with rig.session.post(f"{rig.url}/l/{token}", json=POSITION) as reply:
        assert reply.status == 404
    assert rig.announced == []


async def test_a_guessed_token_gets_what_a_spent_one_gets(rig: Rig) -> None:
    await rig.send()
    guess = "A" * 32
    async with rig.session.post(f"{rig.url}/l/{guess}", json=POSITION) as reply:
        assert (reply.status, await reply.json()) == (404, {"error": "gone"})


@pytest.mark.parametrize("path", ["/", "/l/", "/l", "/health", "/workspace", "/login",
                                  "/static/workspace.js", "/l/short", "/l/../etc/passwd",
                                  "/els", "/sms/mo", "/l.js/x"])
async def test_every_other_route_is_404_with_the_csp(rig: Rig, path: str) -> None:
    for method in ("GET", "POST"):
        async with rig.session.request(method, rig.url + path) as reply:
            assert reply.status in (404, 405), (method, path, reply.status)
            assert reply.headers["Content-Security-Policy"] == CSP
            assert reply.headers["Referrer-Policy"] == "no-referrer"
            assert len(await reply.read()) < 10  # says nothing about the service


@pytest.mark.parametrize("body", [{"lat": 91, "lon": 104}, {"lat": "x", "lon": 1},
                                  {"lat": 0, "lon": 0}, {"lon": 104}, [1, 2],
                                  {"lat": float("nan"), "lon": 1}])
async def test_a_bad_position_is_refused_and_keeps_the_token(rig: Rig, body: object) -> None:
    token = await rig.send()
    async with rig.session.post(f"{rig.url}/l/{token}", json=body) as reply:
        assert reply.status == 400
    async with rig.session.post(f"{rig.url}/l/{token}", json=POSITION) as reply:
        assert reply.status == 200


async def test_no_link_to_a_caller_without_a_number(rig: Rig) -> None:
    with pytest.raises(LinkRefused):
        await rig.links.send("1.1", "anonymous", "ani")
    assert rig.sms == []
