"""Attacks on the ELS HTTPS receiver (issue 21 item 2), the one endpoint that faces the
operators: the real app on its own listener on a free port, a store we own. Each attack is
refused with its status and reason, counted, and nothing reaches the store."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from ntpd_ivr.location.aml import LocationFix
from ntpd_ivr.location.els import ElsReceiver, els_app
from ntpd_ivr.web.listener import Listener

SECRET = "telkomsel-secret-0123456789"
GOOD = ("v=1&emergency_number=112&location_latitude=-2.97610&location_longitude=104.77540"
        "&location_accuracy=12&location_source=gps&location_time=1765098900000")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(operator: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{operator}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", **FORM}


@dataclass
class Rig:
    url: str
    receiver: ElsReceiver
    stored: list[LocationFix] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None

    async def post(self, body: bytes | str, headers: dict[str, str] | None = None,
                   path: str = "/els") -> tuple[int, dict[str, Any]]:
        assert self.session is not None
        async with self.session.post(self.url + path, data=body,
                                     headers=basic("telkomsel", SECRET) if headers is None
                                     else headers) as reply:
            payload = await reply.json() if reply.content_type == "application/json" else {}
            return reply.status, payload


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    stored: list[LocationFix] = []

    async def store(fix: LocationFix) -> None:
        stored.append(fix)

    receiver = ElsReceiver(store, {"telkomsel": SECRET, "indosat": "indosat-secret-0123456"},
                           rate_per_minute=30, max_body_bytes=2048)
    listener = Listener(els_app(receiver), "127.0.0.1", 0)
    await listener.start()
    rig = Rig(f"http://127.0.0.1:{listener.port}", receiver, stored)
    async with aiohttp.ClientSession() as session:
        rig.session = session
        yield rig
    await listener.stop()


async def test_an_operator_with_its_credentials_gets_its_fix_stored(rig: Rig) -> None:
    assert await rig.post(GOOD) == (200, {"stored": True, "matched": False})
    [fix] = rig.stored
    assert (fix.lat, fix.lon, fix.radius_m, fix.method) == (-2.9761, 104.7754, 12.0, "gnss")


@pytest.mark.parametrize("headers", [
    {},                                                    # no credentials
    basic("telkomsel", SECRET[:-1] + "X"),                 # a wrong secret
    basic("telkomsel", "indosat-secret-0123456"),          # another operator's secret
    basic("nobody", SECRET),                               # an unknown operator
    {"Authorization": "Basic !!!not-base64!!!"},
    {"Authorization": f"Bearer {SECRET}"},
], ids=["none", "wrong-secret", "other-operators-secret", "unknown-operator",
        "garbage", "other-scheme"])
async def test_a_request_without_valid_credentials_is_refused(
        rig: Rig, headers: dict[str, str]) -> None:
    status, body = await rig.post(GOOD, {**FORM, **headers})
    assert (status, body["reason"]) == (401, "no valid operator credentials")
    assert rig.stored == [] and rig.receiver.counts["refused_401"] == 1


@pytest.mark.parametrize(("body", "reason"), [
    ("v=1&location_longitude=104.7", "no location_latitude/location_longitude"),
    ("location_latitude=91&location_longitude=104.7", "location_latitude: 91.0 is outside ±90"),
    ("location_latitude=-2.9&location_longitude=1e3", "location_longitude: not degrees: '1e3'"),
    ("location_latitude=0&location_longitude=0", "the phone had no location (0,0)"),
    (b"location_latitude=\xff\xfe", "body is not UTF-8"),
])
async def test_a_malformed_body_is_refused_with_its_reason_and_counted(
        rig: Rig, body: str | bytes, reason: str) -> None:
    assert await rig.post(body) == (400, {"error": "refused", "reason": reason})
    assert rig.stored == [] and rig.receiver.counts["refused_400"] == 1


async def test_a_json_body_that_is_no_object_is_refused(rig: Rig) -> None:
    headers = {**basic("telkomsel", SECRET), "Content-Type": "application/json"}
    assert await rig.post("[1, 2]", headers) == (
        400, {"error": "refused", "reason": "JSON body is not an object"})


async def test_an_oversized_body_is_refused_before_it_is_read_whole(rig: Rig) -> None:
    status, body = await rig.post(GOOD + "&pad=" + "x" * 4000)
    assert (status, body["reason"]) == (413, "body larger than 2048 bytes")
    assert rig.stored == []


async def test_a_flood_is_cut_at_the_rate_limit(rig: Rig) -> None:
    replies = await asyncio.gather(*(rig.post(GOOD) for _ in range(60)))
    statuses = [status for status, _ in replies]
    assert statuses.count(200) == 30 and statuses.count(429) == 30
    assert len(rig.stored) == 30 and rig.receiver.counts["refused_429"] == 30
    # Unauthenticated floods are cut before any password check, too.
    status, _ = await rig.post(GOOD, FORM)
    assert status == 429


async def test_other_routes_and_methods_tell_nothing(rig: Rig) -> None:
    assert rig.session is not None
    for path in ("/", "/els/", "/health", "/workspace", "/sms/mo"):
        async with rig.session.post(rig.url + path, data=GOOD,
                                    headers=basic("telkomsel", SECRET)) as reply:
            assert reply.status == 404
    async with rig.session.get(rig.url + "/els") as reply:
        assert reply.status == 405
    assert rig.stored == []
