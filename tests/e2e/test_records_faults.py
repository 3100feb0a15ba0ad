"""Call records that are never lost (issue 4), against the real stack: PostgreSQL stopped
mid-batch, the controller SIGKILLed mid-batch, the AMI connection cut mid-call. Every
test reads the rows back from PostgreSQL.

Calls are placed concurrently, each SIPp caller its own process; two call-taker
stand-ins answer them all (the queue rings a free one, ringinuse=no).
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.stack.devstack import OPERATOR_IP, TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import SippResult, Taker, place_call
from tests.waiting import standing_by

from .conftest import Controller, Row, call_rows

pytestmark = pytest.mark.e2e

TAKER_NAMES = ("taker-1", "taker-2")


def new_callers(count: int) -> list[str]:
    return ["08" + "".join(random.choices("0123456789", k=10)) for _ in range(count)]


class ManyTakers:
    """Both call-takers' softphones, each answering up to `calls` calls of `talk_ms`."""

    def __init__(self, stack: DevStack, calls: int, talk_ms: int) -> None:
        self.takers = [Taker(TAKER_IP, port, talk_ms=talk_ms, calls=calls)
                       for port in stack.layout.taker_ports]

    def stop(self) -> None:
        for taker in self.takers:
            if taker.process.poll() is not None:
                taker.wait(timeout=1)  # reads and closes its output pipe
            taker.stop()


@pytest.fixture
def many_takers(stack: DevStack) -> Iterator[Callable[[int, int], ManyTakers]]:
    started: list[ManyTakers] = []

    def start(calls: int, talk_ms: int) -> ManyTakers:
        group = ManyTakers(stack, calls, talk_ms)
        started.append(group)
        standing_by(*group.takers)
        return group

    yield start
    for group in started:
        group.stop()


def launch_call(stack: DevStack, caller: str) -> asyncio.Task[SippResult]:
    """One caller pressing 1, waiting for a call-taker, in its own SIPp process."""
    return asyncio.create_task(asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1",
        caller=caller, digit_delay_ms=1200, timeout=60))


async def all_placed(calls: Sequence[asyncio.Task[SippResult]]) -> None:
    for result in await asyncio.gather(*calls):
        assert result.ok, result.output[-3000:]


def complete(row: Row) -> bool:
    return (row["ended_at"] is not None and row["disposition"] is not None
            and (row["disposition"] != "answered" or row["answered_by"] is not None))


async def complete_rows(stack: DevStack, callers: Sequence[str],
                        wait_s: float = 20.0) -> dict[str, Row]:
    """One finished row per caller, once records (and reconciliation) have caught up."""
    deadline = time.monotonic() + wait_s
    while True:
        rows = await call_rows(stack, callers)
        as_dialled = {canonical_caller(c): c for c in callers}  # records hold +62...
        by_caller: dict[str, list[Row]] = {}
        for row in rows:
            by_caller.setdefault(as_dialled[row["caller_number"]], []).append(row)
        # Never twice, at no moment.
        assert all(len(r) == 1 for r in by_caller.values()), f"a call recorded twice: {rows}"
        if set(by_caller) == set(callers) and all(complete(r[0]) for r in by_caller.values()):
            return {caller: r[0] for caller, r in by_caller.items()}
        assert time.monotonic() < deadline, (
            f"calls missing or unfinished after {wait_s} s: "
            f"missing {sorted(set(callers) - set(by_caller))}, rows {rows}")
        await asyncio.sleep(0.3)


def assert_answered(row: Row) -> None:
    assert row["disposition"] == "answered", row
    assert row["answered_by"] in TAKER_NAMES, row
    assert row["arrived_at"] is not None and row["arrived_at"] <= row["ended_at"], row


async def wait_for(what: str, check: Callable[[], bool], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"timed out after {within_s} s waiting for {what}"
        await asyncio.sleep(0.05)


async def test_postgres_down_mid_batch_every_call_recorded_once(
        stack: DevStack, running_controller: Controller,
        many_takers: Callable[[int, int], ManyTakers]) -> None:
    callers = new_callers(4)
    many_takers(len(callers), 1000)
    seen_outage: dict[str, Any] = {}
    calls: list[asyncio.Task[SippResult]] = []
    try:
        calls.append(launch_call(stack, callers[0]))
        calls.append(launch_call(stack, callers[1]))
        await wait_for("a call in the IVR", lambda: running_controller.health()[1]
                       ["fastagi"]["active_sessions"] > 0, 10)
        await asyncio.to_thread(stack.postgres.stop, "immediate")
        calls += [launch_call(stack, caller) for caller in callers[2:]]

        def outage_shown() -> bool:
            records = running_controller.health()[1]["records"]
            if records["database"] == "unreachable" and records["pending"] > 0:
                seen_outage.update(records)
                return True
            return False

        await wait_for("health to show the outage", outage_shown, 15)
        await all_placed(calls)
        # Every call of the batch ended while PostgreSQL was down.
        assert running_controller.health()[1]["records"]["database"] == "unreachable"
    finally:
        await asyncio.gather(*calls, return_exceptions=True)
        await asyncio.to_thread(stack.postgres.start)

    rows = await complete_rows(stack, callers)
    for row in rows.values():
        assert_answered(row)
        # All of it came from AMI through the spool, none from the CDR.
        assert row["reconciled"] is False, row
        assert row["queued_at"] is not None and row["answered_at"] is not None, row
    await wait_for("the spool to drain", lambda: running_controller.health()[1]["records"]
                   ["pending"] == 0, 10)
    assert running_controller.health()[1]["records"]["database"] == "ok"
    assert seen_outage["pending"] > 0


async def test_controller_killed_mid_batch_calls_come_back_from_the_cdr(
        stack: DevStack, running_controller: Controller,
        many_takers: Callable[[int, int], ManyTakers]) -> None:
    ivr_callers, down_caller, restart_caller = new_callers(2), *new_callers(2)
    many_takers(4, 1500)
    calls: list[asyncio.Task[SippResult]] = []
    try:
        # Two callers in the menu when the controller dies: they go on to the fallback.
        calls += [launch_call(stack, caller) for caller in ivr_callers]
        await wait_for("a call in the IVR", lambda: running_controller.health()[1]
                       ["fastagi"]["active_sessions"] > 0, 10)
        running_controller.kill()
        # One call from start to end while the controller is down: only the CDR saw it.
        down_placed = time.time()
        down_call = launch_call(stack, down_caller)
        calls.append(down_call)
        result = await down_call
        down_ended = time.time()
        assert result.ok, result.output[-3000:]
        # One call still live when the controller comes back: picked up by the resync.
        calls.append(launch_call(stack, restart_caller))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(running_controller.start)
        await all_placed(calls)
    finally:
        await asyncio.gather(*calls, return_exceptions=True)
        if running_controller.process is None:
            running_controller.start()

    callers = [*ivr_callers, down_caller, restart_caller]
    rows = await complete_rows(stack, callers)
    for row in rows.values():
        assert_answered(row)
    down = rows[down_caller]
    assert down["reconciled"] is True, down
    assert down["uniqueid"] == down["linkedid"] and down["trunk"] == "operator-local", down
    # The CDR's times are epoch seconds: no time-zone offset (a center in Asia/Jakarta
    # would otherwise be 7 h off), and finer than whole seconds.
    assert down_placed - 1 <= down["arrived_at"].timestamp() <= down["ended_at"].timestamp() \
        <= down_ended + 1, (down_placed, down_ended, down)
    # Ends the controller never saw (it was dead) come from the CDR too.
    assert all(rows[c]["reconciled"] for c in ivr_callers), [rows[c] for c in ivr_callers]


def cut_ami(stack: DevStack) -> None:
    """Kill the controller's AMI TCP connection, as a network fault would (root only)."""
    subprocess.run(["ss", "-K", "-tn", f"dst 127.0.0.1 and dport = :{stack.layout.ami_port}"],
                   check=True, capture_output=True, timeout=5)


async def test_ami_cut_mid_call_reconnects_resyncs_and_completes_the_record(
        stack: DevStack, running_controller: Controller,
        many_takers: Callable[[int, int], ManyTakers]) -> None:
    caller, = new_callers(1)
    many_takers(1, 3000)
    logins_before = running_controller.health()[1]["ami"]["logins"]
    call = launch_call(stack, caller)
    try:
        await wait_for("the call in the IVR", lambda: running_controller.health()[1]
                       ["fastagi"]["active_sessions"] > 0, 10)
        # AMI stays cut while the caller picks 1, queues and is answered: those events
        # are lost for good; the controller sees the call again only through its resync.
        cut_until = time.monotonic() + 3.0
        while time.monotonic() < cut_until:
            await asyncio.to_thread(cut_ami, stack)
            await asyncio.sleep(0.1)
        await wait_for("AMI logged in again", lambda: running_controller.health()[1]
                       ["ami"]["connected"], 10)
        # Still talking: the call ends after the reconnection.
        assert not call.done()
        result = await call
        assert result.ok, result.output[-3000:]
    finally:
        await asyncio.gather(call, return_exceptions=True)
    assert running_controller.health()[1]["ami"]["logins"] > logins_before

    row = (await complete_rows(stack, [caller]))[caller]
    assert_answered(row)
    assert row["ivr_digit"] == "1" and row["category"] == "ambulance", row
    assert row["uniqueid"] == row["linkedid"], row
