"""Abandoned-call callbacks and recordings against the real stack: real SIPp calls through
Asterisk 22 into the controller, real PostgreSQL rows, real MixMonitor files.

- A caller who gives up in the queue three times in a row is on the callback list once.
- Calling them back rings a call-taker stand-in first, then the caller (a SIPp UAS at the
  callback line) with `Priority: psap-callback`; the outcome, reached, is recorded and
  audited.
- An answered call leaves `<uniqueid>.wav`, which the retention job deletes once expired.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.callbacks.tables import Callback, CallbackAttempt, CallbackCall
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.recordings.service import RecordingService
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import CALLBACK_IP, OPERATOR_IP, TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import Taker, place_call
from tests.waiting import held_reachable, standing_by

from .conftest import Controller, Takers, call_rows, caller, dial, record

pytestmark = pytest.mark.e2e


async def rows(stack: DevStack, query: Any) -> list[dict[str, Any]]:
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]
    finally:
        await engine.dispose()


async def wait_for(stack: DevStack, query: Any, done: Any, within: float,
                   what: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        found = await rows(stack, query)
        if done(found):
            return found
        assert time.monotonic() < deadline, f"{what} not within {within} s: {found}"
        await asyncio.sleep(0.5)


async def abandon_in_queue(stack: DevStack, number: str) -> None:
    result = await asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1",
        caller=number, digit_delay_ms=1200, timeout=40, scenario="caller-abandon-in-queue.xml")
    assert result.ok, result.output[-3000:]


def called_back_phone(stack: DevStack) -> Taker:
    """The caller's phone at the callback line's contact: checks the INVITE's Priority,
    answers, keeps SIPp's messages, stays until Asterisk hangs up."""
    return Taker(CALLBACK_IP, stack.layout.callback_port, scenario="callback-answer.xml",
                 trace_messages=True)


@pytest.fixture
def called_back(stack: DevStack) -> Iterator[Taker]:
    phone = called_back_phone(stack)
    standing_by(phone)
    held_reachable(stack.asterisk, "callback-line")  # also right after a config reload
    yield phone
    phone.stop()


@pytest.fixture
def taker_1(stack: DevStack) -> Iterator[Taker]:
    taker = Taker(TAKER_IP, stack.layout.taker_ports[0], talk_ms=2500)
    standing_by(taker)
    yield taker
    taker.stop()


async def supervisor_session(stack: DevStack, http: aiohttp.ClientSession) -> str:
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    async with http.get(f"{base}/api/csrf") as reply:
        token = (await reply.json())["csrf_token"]
    async with http.post(f"{base}/login", headers={"X-CSRF-Token": token}, json={
            "user": "supervisor", "password": stack.secrets["web_supervisor_password"]}) as reply:
        assert reply.status == 200, await reply.text()
        return str((await reply.json())["csrf_token"])


async def call_back(stack: DevStack, http: aiohttp.ClientSession, token: str,
                    callback_id: int) -> tuple[int, dict[str, Any]]:
    """The supervisor's "call back" through call-taker 1's phone: the reply's status and
    body."""
    async with http.post(f"http://127.0.0.1:{stack.layout.web_port}/api/callbacks/"
                         f"{callback_id}/call", json={"endpoint": "taker-1"},
                         headers={"X-CSRF-Token": token}) as reply:
        return reply.status, await reply.json()


async def test_three_abandons_make_one_callback_which_reaches_the_caller(
        stack: DevStack, running_controller: Controller, called_back: Taker,
        request: pytest.FixtureRequest) -> None:
    number = caller()
    canonical = canonical_caller(number)
    for _ in range(3):
        await abandon_in_queue(stack, number)
    cb = Callback.__table__
    listed = await wait_for(
        stack, select(cb).where(cb.c.caller_number == canonical),
        lambda found: found and found[0]["abandon_count"] == 3, 20,
        "three abandoned calls on the callback list")
    assert len(listed) == 1, listed  # once, not three times
    callback = listed[0]
    assert callback["status"] == "waiting" and callback["attempts"] == 0
    calls = await rows(stack, select(CallbackCall.__table__).where(
        CallbackCall.__table__.c.callback_id == callback["id"]))
    assert len(calls) == 3
    recorded = await call_rows(stack, [number])
    assert sorted(r["uniqueid"] for r in recorded) == sorted(c["uniqueid"] for c in calls)
    assert {r["disposition"] for r in recorded} == {"abandoned-in-queue"}

    # A supervisor calls back through call-taker 1's phone (a SIPp stand-in that answers).
    taker = request.getfixturevalue("taker_1")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await supervisor_session(stack, http)
        status, body = await call_back(stack, http, token, callback["id"])
        assert status == 202, body
        status, body = await call_back(stack, http, token, callback["id"])
        assert status == 409 and body["error"] == "in-progress"
    done = await wait_for(stack, select(cb).where(cb.c.id == callback["id"]),
                          lambda found: found[0]["status"] != "calling", 45,
                          "the callback's outcome")
    phone = await asyncio.to_thread(called_back.wait, 30)
    taker_result = await asyncio.to_thread(taker.wait, 30)
    output = phone.output
    assert done[0]["status"] == "reached", (done, output[-3000:])
    assert done[0]["attempts"] == 1 and done[0]["closed_at"] is not None
    assert done[0]["first_attempt_at"] >= done[0]["abandoned_at"]
    assert phone.ok, output[:3000]  # the INVITE carried Priority: psap-callback
    assert taker_result.ok, taker_result.output[-2000:]  # the call-taker's phone rang first
    invite = next(block for block in output.split("\n\n") if "INVITE sip:" in block)
    assert f"INVITE sip:{canonical}@" in invite  # the number on the list, nothing else
    assert "Priority: psap-callback" in invite
    assert "From: \"112\" <sip:112@" in invite  # the center calls, not the caller's number
    attempts = await rows(stack, select(CallbackAttempt.__table__).where(
        CallbackAttempt.__table__.c.callback_id == callback["id"]))
    assert [(a["actor"], a["endpoint"], a["outcome"]) for a in attempts] == [
        ("supervisor", "taker-1", "reached")]
    audit = await rows(stack, select(AuditEvent.action, AuditEvent.actor).where(
        AuditEvent.subject_type == "callback", AuditEvent.subject_id == str(callback["id"]))
        .order_by(AuditEvent.id))
    assert [(a["action"], a["actor"]) for a in audit] == [
        ("callback.added", "controller"), ("callback.joined", "controller"),
        ("callback.joined", "controller"), ("callback.call", "supervisor"),
        ("callback.reached", "controller")]


async def test_a_callback_is_cleared_when_the_caller_gets_through(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    # Nobody answers the first call: the takers' stand-ins are not up yet for it.
    takers.stop()
    await abandon_in_queue(stack, number)
    cb = Callback.__table__
    await wait_for(stack, select(cb).where(cb.c.caller_number == canonical_caller(number)),
                   lambda found: len(found) == 1, 20, "the abandoned call on the list")
    again = Takers(stack.layout.taker_ports, talk_ms=1500)
    try:
        await asyncio.to_thread(standing_by, *again.by_name.values())
        await dial(stack, number, "1")
    finally:
        again.stop()
    cleared = await wait_for(
        stack, select(cb).where(cb.c.caller_number == canonical_caller(number)),
        lambda found: found[0]["status"] == "cleared", 40, "the callback cleared")
    answered = [r for r in await call_rows(stack, [number]) if r["answered_at"] is not None]
    assert [r["uniqueid"] for r in answered] == [cleared[0]["cleared_by"]]
    assert cleared[0]["closed_at"] is not None


async def test_an_answered_call_is_recorded_and_retention_removes_it_once_expired(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    await dial(stack, number, "1")
    row, _ = await record(stack, number)
    assert row["answered_at"] is not None
    settings = load_settings(stack.layout.settings_file)
    folder = Path(settings.recordings.dir)
    path = folder / f"{row['uniqueid']}.wav"
    deadline = time.monotonic() + 10
    while not (path.exists() and path.stat().st_size > 44):  # MixMonitor closes at hang-up
        assert time.monotonic() < deadline, f"no recording {path}"
        await asyncio.sleep(0.3)
    assert path.read_bytes()[:4] == b"RIFF"
    engine = make_engine(settings.database)
    try:
        job = RecordingService(settings.recordings, engine)  # the controller's periodic job
        assert path.name not in await job.purge_now()  # fresh: kept
        old = time.time() - (settings.recordings.retention_days + 1) * 86400
        os.utime(path, (old, old))
        assert path.name in await job.purge_now()
    finally:
        await engine.dispose()
    assert not path.exists()


async def test_a_recording_that_cannot_be_written_never_touches_the_call(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    assert stack.asterisk is not None
    # A folder MixMonitor cannot create (under a file), as a full or broken disk would be.
    broken = f"{stack.asterisk.etc}/extensions.conf/recordings"
    stack.asterisk.cli(f"dialplan set global NTPD_RECORDINGS {broken}")
    try:
        number = caller()
        await dial(stack, number, "1")
        row, _ = await record(stack, number)
    finally:
        stack.asterisk.cli(f"dialplan set global NTPD_RECORDINGS {stack.recordings_inside}")
    assert row["disposition"] == "answered" and row["answered_at"] is not None
    assert row["hangup_cause"] == 16  # a normal clearing, by the call-taker
    assert not (Path(load_settings(stack.layout.settings_file).recordings.dir)
                / f"{row['uniqueid']}.wav").exists()
