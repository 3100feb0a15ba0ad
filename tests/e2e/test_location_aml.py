"""Issue 21 items 4 and 7: a SIPp 112 call plus AML SMS through Kannel's fake SMSC, against
the real stack (Asterisk, Kannel, PostgreSQL, the controller with its sms and location
plugins). An AML SMS that comes before the call is in the pop's `fixes`; one during the
call reaches the call-taker's screen live as `location.fix`."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ntpd_ivr.db.session import make_engine
from ntpd_ivr.location.tables import LocationFixRow
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import DevStack
from tests.aml import aml_sms, phone_imei

from .conftest import Controller, Takers, caller, dial
from .test_workspace import Screen, screen, workspace_users  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


async def popped(stack: DevStack, number: str, *screens: Screen
                 ) -> tuple[asyncio.Task[None], dict[str, Any], Screen]:
    """A SIPp call from `number` under way, its pop, and the screen it popped on."""
    call = asyncio.create_task(dial(stack, number, "1"))
    waits = {asyncio.create_task(s.next_event("call.ringing", 30)): s for s in screens}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    first = done.pop()
    pop, _ = first.result()
    return call, pop, waits[first]


async def send_mo(stack: DevStack, sender: str, text: str) -> None:
    assert stack.fake_smsc is not None
    await asyncio.to_thread(stack.fake_smsc.send, sender, "112", text)


async def fix_stored(stack: DevStack, number: str, within: float = 30.0) -> None:
    """Until a fix of `number` is in location_fixes: an SMS "before the call" must have
    crossed Kannel (about a second) before the call is placed, or it is not before it."""
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    fixes = LocationFixRow.__table__
    try:
        async with asyncio.timeout(within):
            while True:
                async with engine.connect() as conn:
                    found = (await conn.execute(select(fixes.c.id).where(
                        fixes.c.caller_number == canonical_caller(number)))).first()
                if found is not None:
                    return
                await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("workspace_users")  # ws-ani, ws-budi on the two stand-ins
async def test_aml_sms_before_and_during_a_call_reach_the_call_takers_screen(
        stack: DevStack, running_controller: Controller,
        takers: Takers) -> None:
    number, imei = caller(), phone_imei()
    # The phone's AML SMS can come before the call is answered: kept, then in the pop.
    await send_mo(stack, canonical_caller(number),
                  aml_sms("-2.97610", "+104.77540", 35, imei=imei))
    await fix_stored(stack, number)
    async with screen(stack, "ws-ani") as ani, screen(stack, "ws-budi") as budi:
        call, pop, rung = await popped(stack, number, ani, budi)
        other = budi if rung is ani else ani
        early_fixes = [f for f in pop["fixes"] if f["source"] == "aml"]
        if not early_fixes:  # a loaded machine cut the pop's look-up short: pushed after it
            late, _ = await rung.next_event("location.fix", 20)
            early_fixes = [late["fix"]]
        [early] = early_fixes
        assert (early["lat"], early["lon"], early["radius_m"], early["method"]) == (
            -2.9761, 104.7754, 35.0, "gnss")
        # A second, more accurate one during the call: live, to the rung screen only.
        sent = time.monotonic()
        await send_mo(stack, number, aml_sms("-2.97650", "+104.77500", 8, imei=imei))
        fix, _ = await rung.next_event("location.fix", 20)
        took = time.monotonic() - sent
        assert fix["call"] == pop["uniqueid"]
        assert (fix["fix"]["source"], fix["fix"]["lat"], fix["fix"]["radius_m"]) == (
            "aml", -2.9765, 8.0)
        assert fix["fixes"][0] == fix["fix"]  # the best now: same minute, 8 m beats 35 m
        assert took < 10, took
        with pytest.raises((AssertionError, TimeoutError)):  # nothing for the other desk
            await other.next_event("location.fix", 1.0)
        state = await rung.state()
        assert state["call"]["fixes"][0] == fix["fix"]
        await call


@pytest.mark.usefixtures("workspace_users")
async def test_an_els_post_during_a_call_reaches_the_screen_and_a_bad_one_is_refused(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    els = f"http://127.0.0.1:{stack.layout.location_ports[0]}/els"
    auth = {"Authorization": basic("dev-operator", stack.secrets["els_secret"])}
    body = {"v": "2", "emergency_number": "112", "location_latitude": "-2.97700",
            "location_longitude": "104.77600", "location_accuracy": "6",
            "location_source": "gps", "device_number": canonical_caller(number),
            "device_imei": phone_imei()}
    async with screen(stack, "ws-ani") as ani, screen(stack, "ws-budi") as budi, \
            aiohttp.ClientSession() as http:
        async with http.post(els, data=body, headers={
                "Authorization": basic("dev-operator", "wrong-secret")}) as reply:
            assert reply.status == 401
        call, pop, rung = await popped(stack, number, ani, budi)
        async with http.post(els, data=body, headers=auth) as reply:
            assert (reply.status, await reply.json()) == (200, {"stored": True,
                                                                "matched": True})
        fix, _ = await rung.next_event("location.fix", 20)
        assert fix["call"] == pop["uniqueid"]
        assert (fix["fix"]["source"], fix["fix"]["lat"], fix["fix"]["radius_m"]) == (
            "els", -2.977, 6.0)
        async with http.post(els, data={"location_latitude": "x"}, headers=auth) as reply:
            assert (reply.status, (await reply.json())["reason"]) == (
                400, "no location_latitude/location_longitude")
        await call
