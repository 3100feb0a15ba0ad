"""A 112 call end to end: SIPp caller -> Asterisk 22 -> FastAGI IVR -> app_queue ->
SIPp call-taker, and the call record read back from PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import SippResult, place_call
from tests.waiting import eventually

from .conftest import Controller, Takers, call_rows

pytestmark = pytest.mark.e2e


def new_caller() -> str:
    return "08" + "".join(random.choices("0123456789", k=10))


async def finished_call(stack: DevStack, caller: str, wait_s: float = 15.0) -> dict[str, Any]:
    """The caller's row once its end is recorded (records are written asynchronously)."""
    deadline = time.monotonic() + wait_s
    while True:
        rows = await call_rows(stack, [caller])
        if len(rows) == 1 and rows[0]["ended_at"] is not None:
            return rows[0]
        assert len(rows) <= 1, f"one call, {len(rows)} rows: {rows}"
        assert time.monotonic() < deadline, f"no finished record for {caller}: {rows}"
        await asyncio.sleep(0.3)


def call(stack: DevStack, caller: str, digit: str | None) -> None:
    result = place_call(f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0,
                        digit=digit, caller=caller, digit_delay_ms=1200, timeout=60)
    assert result.ok, result.output[-3000:]


async def who_answered(takers: Takers) -> str:
    """The stand-in that completed a call (SIPp exits 0 after its one call), once one has
    exited: after the caller's call has ended, the stand-in's own end follows."""
    await eventually(lambda: any(t.process.poll() is not None
                                 for t in takers.by_name.values()),
                     "a call-taker stand-in ends its call")
    done = []
    for name, taker in takers.by_name.items():
        if taker.process.poll() is None:
            continue
        result = taker.wait(timeout=1)
        assert result.ok, result.output[-2000:]
        done.append(name)
    assert len(done) == 1, f"expected one call-taker to take the call, got {done}"
    return done[0]


async def silent_caller_in_the_menu(stack: DevStack, controller: Controller,
                                    caller: str) -> asyncio.Task[SippResult]:
    """A call from a caller who presses nothing (the menu holds them ~10 s), returned once
    the controller has the call in its IVR."""
    placing = asyncio.create_task(asyncio.to_thread(
        lambda: place_call(f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0,
                           digit=None, caller=caller, timeout=60)))
    deadline = time.monotonic() + 10
    while controller.health()[1]["fastagi"]["active_sessions"] == 0:
        assert time.monotonic() < deadline, "the call never reached the IVR"
        await asyncio.sleep(0.1)
    return placing


async def test_caller_presses_1_and_a_call_taker_answers(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    caller = new_caller()
    await asyncio.to_thread(call, stack, caller, "1")
    taker = await who_answered(takers)
    row = await finished_call(stack, caller)

    assert row["ivr_digit"] == "1"
    assert row["category"] == "ambulance"
    assert row["route_reason"] == "menu"
    assert row["queue"] == "takers-default"
    assert row["dialed"] == "112"
    assert row["trunk"] == "operator-local"
    assert row["answered_by"] == taker
    assert row["uniqueid"] and row["linkedid"] == row["uniqueid"]
    assert row["arrived_at"] <= row["queued_at"] <= row["answered_at"] <= row["ended_at"]
    # The call-taker talked ~1.5 s before hanging up: the record must show it.
    assert 1.0 <= (row["ended_at"] - row["answered_at"]).total_seconds() < 10
    assert row["hangup_cause"] == 16  # normal clearing


async def test_silent_caller_still_reaches_a_call_taker(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    caller = new_caller()
    await asyncio.to_thread(call, stack, caller, None)
    taker = await who_answered(takers)
    row = await finished_call(stack, caller)
    assert (row["ivr_digit"], row["route_reason"], row["answered_by"]) == ("", "no-input", taker)


async def test_health_reports_every_part(running_controller: Controller) -> None:
    status, body = running_controller.health()
    assert status == 200
    assert body["fastagi"]["serving"] is True
    assert body["ami"]["connected"] is True
    assert body["records"]["database"] == "ok"


async def test_with_the_controller_stopped_the_call_still_reaches_a_call_taker(
        stack: DevStack, controller: Controller, takers: Takers) -> None:
    controller.stop()
    try:
        caller = new_caller()
        started = time.monotonic()
        await asyncio.to_thread(call, stack, caller, "1")
        assert await who_answered(takers) in {"taker-1", "taker-2"}
        # Straight to the fallback queue: no menu, no waiting on a dead controller.
        assert time.monotonic() - started < 15
    finally:
        controller.start()


async def test_controller_killed_during_the_menu_the_caller_still_reaches_a_call_taker(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    placing = await silent_caller_in_the_menu(stack, running_controller, new_caller())
    try:
        running_controller.kill()
        result = await placing
        assert result.ok, result.output[-3000:]
        assert await who_answered(takers) in {"taker-1", "taker-2"}
    finally:
        if not placing.done():
            await placing
        running_controller.start()
