"""Issue 22: 112 by text through the real stack (Kannel with its fake SMSC, PostgreSQL, the
controller with its sms, location and texts plugins, web users on the two stand-ins).

A caller texts the short code: the fake SMSC receives the acknowledgement, a session row
(a `calls` row, medium "sms") and its messages are stored, both desks that accept text are
offered it; one takes it (the other is told, and cannot take, reply or end it), replies
(the fake SMSC receives the reply, delivery reports reach the desk), and ends it with a
disposition (a prank strike on the number, as for a call). An AML SMS opens no session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ntpd_ivr.calls.tables import Call
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.incidents.tables import CallDisposition
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.prank.tables import CallerStrike
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import DevStack
from ntpd_ivr.texts.tables import TextMessage, TextSession
from tests.aml import aml_sms
from tests.waiting import WAIT_S

from .conftest import Controller, caller
from .test_location_aml import send_mo
from .test_workspace import Screen, screen, workspace_users  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e

ACK = "Pesan Anda diterima"


async def call(desk: Screen, method: str, path: str, body: Any = None
               ) -> tuple[int, dict[str, Any]]:
    async with desk.http.request(method, f"{desk.base}{path}", json=body,
                                 headers={"X-CSRF-Token": desk.csrf}) as reply:
        return reply.status, await reply.json()


async def rows(stack: DevStack, number: str) -> dict[str, list[dict[str, Any]]]:
    """The number's text sessions, their calls rows, messages, dispositions and strikes."""
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            sessions = [dict(r) for r in (await conn.execute(select(
                TextSession.__table__).where(TextSession.caller_number == number)
                )).mappings()]
            ids = [s["uniqueid"] for s in sessions]
            found = {"sessions": sessions}
            for name, table, column in (
                    ("calls", Call.__table__, Call.uniqueid),
                    ("messages", TextMessage.__table__, TextMessage.uniqueid),
                    ("dispositions", CallDisposition.__table__, CallDisposition.uniqueid)):
                found[name] = [dict(r) for r in (await conn.execute(
                    select(table).where(column.in_(ids)))).mappings()]
            found["strikes"] = [dict(r) for r in (await conn.execute(select(
                CallerStrike.__table__).where(CallerStrike.number == number))).mappings()]
            return found
    finally:
        await engine.dispose()


def mts(stack: DevStack, number: str, words: str) -> list[str]:
    assert stack.fake_smsc is not None
    return [m for m in stack.fake_smsc.received() if number in m and words in m]


async def until(check: Callable[[], Any], what: str, within: float = WAIT_S) -> Any:
    """The first true value of `check()` (a coroutine function or not), polled."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.2)


async def quiet(desk: Screen, kind: str, within: float = 1.0) -> None:
    """Nothing of `kind` reaches this desk for `within` seconds."""
    with pytest.raises((AssertionError, TimeoutError)):
        await desk.next_event(kind, within)


@pytest.mark.usefixtures("workspace_users")  # ws-ani, ws-budi on the two stand-ins
async def test_a_caller_texts_a_call_taker_takes_replies_and_ends(
        stack: DevStack, running_controller: Controller) -> None:
    number = canonical_caller(caller())
    async with screen(stack, "ws-ani") as ani, screen(stack, "ws-budi") as budi:
        for desk in (ani, budi):
            assert await call(desk, "PUT", "/api/workspace/accepts-text",
                              {"accepts": True}) == (200, {"accepts": True})
        await send_mo(stack, number, "Tolong ada pencuri di rumah saya, saya tidak bisa bicara")
        offered, _ = await ani.next_event("text.offered", 20)
        other, _ = await budi.next_event("text.offered", 20)
        uniqueid = offered["uniqueid"]
        assert other["uniqueid"] == uniqueid and uniqueid.startswith("sms-")
        assert (offered["caller_number"], offered["state"], offered["region"],
                offered["category"]) == (number, "offered", "sumsel", "unclassified")
        assert offered["messages"][0]["direction"] == "in"
        assert "pencuri" in offered["messages"][0]["body"]
        # The acknowledgement, at once, through the outbox and Kannel.
        await until(lambda: mts(stack, number, ACK), "the acknowledgement at the SMSC")
        found = await rows(stack, number)
        assert [c["medium"] for c in found["calls"]] == ["sms"]
        assert found["calls"][0]["queue"] == "takers-default"
        assert sorted((m["direction"], m["author"]) for m in found["messages"]) == [
            ("in", number), ("out", "auto")]
        status, listed = await call(ani, "GET", "/api/texts")
        assert status == 200 and uniqueid in [s["uniqueid"] for s in listed["sessions"]]

        # ani takes it; budi is told, and can neither take it nor act on it.
        status, taken = await call(ani, "POST", f"/api/texts/{uniqueid}/take")
        assert (status, taken["state"], taken["taken_by"]) == (200, "taken", "ws-ani")
        told, _ = await budi.next_event("text.taken", 10)
        assert told == {"uniqueid": uniqueid, "by": "ws-ani"}
        status, refused = await call(budi, "POST", f"/api/texts/{uniqueid}/take")
        assert (status, refused["error"]) == (409, "taken")
        for path, body in (("messages", {"body": "saya petugas"}),
                           ("end", {"disposition": "prank"}), ("callback", None)):
            status, refused = await call(budi, "POST", f"/api/texts/{uniqueid}/{path}", body)
            assert (status, refused["error"]) == (403, "not-yours"), path
        status, refused = await call(budi, "GET", f"/api/texts/{uniqueid}")
        assert (status, refused["error"]) == (403, "not-yours")

        # A reply reaches the caller's phone; its delivery reaches ani's desk.
        status, message = await call(ani, "POST", f"/api/texts/{uniqueid}/messages",
                                     {"quick": "where"})
        assert status == 201, message
        assert (message["direction"], message["body"], message["author"]) == (
            "out", "Di mana lokasi Anda?", "ws-ani")
        await until(lambda: mts(stack, number, "Di mana lokasi Anda?"), "the reply at the SMSC")
        states = set()
        while "delivered" not in states:
            delivery, _ = await ani.next_event("text.delivery", 20)
            assert delivery["uniqueid"] == uniqueid
            if delivery["message_id"] == message["id"]:
                states.add(delivery["delivery"])
        status, refused = await call(ani, "POST", f"/api/texts/{uniqueid}/messages",
                                     {"body": "x" * 460})
        assert (status, refused["error"]) == (413, "too-long")

        # The caller answers: it joins the session, on ani's desk only.
        await send_mo(stack, number, "Di Jalan Sudirman nomor 5")
        joined, _ = await ani.next_event("text.message", 20)
        assert (joined["uniqueid"], joined["message"]["body"]) == (
            uniqueid, "Di Jalan Sudirman nomor 5")
        await quiet(budi, "text.message")
        # An AML SMS of the same phone: a location fix, never a message or a session.
        await send_mo(stack, number, aml_sms("-2.97610", "+104.77540", 35))
        stranger = canonical_caller(caller())
        await send_mo(stack, stranger, aml_sms("-2.97610", "+104.77540", 35))
        await quiet(budi, "text.offered", 2.0)
        assert (await rows(stack, stranger))["sessions"] == []
        status, seen = await call(ani, "GET", f"/api/texts/{uniqueid}")
        assert [m["body"][:6] for m in seen["messages"] if m["direction"] == "in"] == [
            "Tolong", "Di Jal"]
        assert any(m["delivery"] == "delivered" for m in seen["messages"]
                   if m["id"] == message["id"])

        # Escalated to a voice callback through the callback list's own path.
        status, escalated = await call(ani, "POST", f"/api/texts/{uniqueid}/callback")
        assert status == 202, escalated
        assert escalated["callback"]["caller_number"] == number

        # Ended with a disposition, as a call: a prank strike on the number.
        status, ended = await call(ani, "POST", f"/api/texts/{uniqueid}/end",
                                   {"disposition": "prank"})
        assert (status, ended["state"]) == (200, "ended"), ended
        await ani.next_event("text.ended", 10)
        found = await rows(stack, number)
        assert found["sessions"][0]["ended_by"] == "ws-ani"
        assert found["calls"][0]["ended_at"] is not None
        assert found["calls"][0]["answered_by"] == "taker-1"
        assert [d["disposition"] for d in found["dispositions"]] == ["prank"]
        assert [(s["uniqueid"], s["reason"], s["region"]) for s in found["strikes"]] == [
            (uniqueid, "prank", "sumsel")]
        status, listed = await call(ani, "GET", "/api/texts")
        assert uniqueid not in [s["uniqueid"] for s in listed["sessions"]]
        # The next SMS of the number opens a new session.
        await send_mo(stack, number, "halo lagi")
        again, _ = await ani.next_event("text.offered", 20)
        assert again["uniqueid"] != uniqueid
        # The strike counts, as for a call: behind strike-free sessions, and the desk says so.
        assert (again["standing"]["level"], again["standing"]["strikes"]) == ("struck", 1)
        assert again["priority"] < offered["priority"]
        assert [h["uniqueid"] for h in again["history"]][:1] == [uniqueid]


@pytest.mark.usefixtures("workspace_users")
async def test_a_flooded_session_keeps_every_message_and_flags_the_excess(
        stack: DevStack, running_controller: Controller) -> None:
    number = canonical_caller(caller())
    async with screen(stack, "ws-ani") as ani:
        assert (await call(ani, "PUT", "/api/workspace/accepts-text",
                           {"accepts": True}))[0] == 200
        for n in range(9):  # the example config's flood_per_minute is 6
            await send_mo(stack, number, f"pesan {n}")
        found = await until(lambda: _messages_in(stack, number, 9), "nine messages stored")
        # Kannel may hand two close SMS over in either order: the 7th to arrive on is flagged.
        in_order = sorted(found, key=lambda m: m["id"])
        assert [m["flagged"] for m in in_order] == [False] * 6 + [True] * 3
        assert sorted(m["body"] for m in in_order) == [f"pesan {n}" for n in range(9)]
        acks = await until(lambda: mts(stack, number, ACK), "the acknowledgement at the SMSC")
        await asyncio.sleep(1.0)
        assert len(mts(stack, number, ACK)) == len(acks) == 1


async def _messages_in(stack: DevStack, number: str, count: int) -> list[dict[str, Any]] | None:
    found = [m for m in (await rows(stack, number))["messages"] if m["direction"] == "in"]
    return found if len(found) >= count else None


async def test_the_api_refuses_without_a_session_or_with_bad_input(
        stack: DevStack, running_controller: Controller) -> None:
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/texts") as reply:
            assert reply.status == 401
