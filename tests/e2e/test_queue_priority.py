"""Priority really orders Asterisk's queue (issue 24, item 5): a deprioritised caller (a
number with prank strikes) and then a genuine one wait in the real app_queue while the one
call-taker stand-in is paused; once it is unpaused, the genuine caller is answered first.

Seen from the stand-in's own SIPp message log (the order of the INVITEs it received) and from
the calls rows (answered_at), not from timing guesses. Both press 3 (police, priority 8: not
life-threatening, so the policy may put the struck caller at `deprioritised_priority` 1);
the prank thresholds are the small ones of tests/e2e/test_prank.py (deprioritised at 2
strikes)."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.stack.devstack import TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import Taker
from tests.waiting import standing_by

from .conftest import Controller, caller, dial, record
from .test_prank import prank_policy, seed_strikes

pytestmark = pytest.mark.e2e
REASON = "e2e-paused"
__all__ = ["prank_policy"]  # the fixture, imported for this module's tests

MEMBERS = ("PJSIP/taker-1", "PJSIP/taker-2")
QUEUES = ("takers-default", "takers-palembang")  # the stand-ins' queues (queues-standins.conf)


def set_paused(stack: DevStack, member: str, paused: bool) -> None:
    assert stack.asterisk is not None
    for queue in QUEUES:
        if paused:
            stack.asterisk.cli(f"queue pause member {member} queue {queue} reason {REASON}")
        else:
            stack.asterisk.cli(f"queue unpause member {member} queue {queue}")
    shown = stack.asterisk.cli(f"queue show {QUEUES[0]}")
    line = next(x for x in shown.splitlines() if f"({member})" in x)
    assert ("paused" in line) == paused, shown


def queue_show(stack: DevStack) -> str:
    assert stack.asterisk is not None
    return stack.asterisk.cli("queue show")


def priorities(shown: str) -> list[int]:
    """The priorities of the callers waiting in Asterisk's queues, in queue order."""
    return [int(p) for p in re.findall(r"prio: (\d+)", shown)]


async def wait_queued(stack: DevStack, wanted: list[int], dialling: asyncio.Task[None],
                      within: float = 40.0) -> None:
    """Until the queue shows these priorities; the caller's SIPp waits 60 s at most."""
    deadline = time.monotonic() + within
    while priorities(shown := await asyncio.to_thread(queue_show, stack)) != wanted:
        assert time.monotonic() < deadline, f"not {wanted} waiting: {shown}"
        if dialling.done():
            dialling.result()  # its failure, if any
            raise AssertionError(f"the call ended before it waited: {shown}")
        await asyncio.sleep(0.3)


def invited(taker: Taker) -> list[str]:
    """The caller numbers of the INVITEs the stand-in received, in order (From: user)."""
    log = "".join(p.read_text(errors="replace")
                  for p in sorted(taker.workdir.glob("*_messages.log")))
    return re.findall(r"^INVITE sip:.*?^From:[^\n]*?sip:\+?(\d+)@", log, flags=re.M | re.S)


async def test_a_genuine_caller_is_answered_before_an_earlier_deprioritised_one(
        stack: DevStack, prank_policy: None, running_controller: Controller) -> None:
    assert stack.asterisk is not None
    struck, genuine = caller(), caller()
    known = running_controller.health()[1]["prank"]["numbers"]
    await seed_strikes(stack, struck, 2)  # deprioritise_at = 2 in the test policy
    deadline = time.monotonic() + 30
    while running_controller.health()[1]["prank"]["numbers"] <= known:
        assert time.monotonic() < deadline, running_controller.health()[1]["prank"]
        await asyncio.sleep(0.2)

    for member in MEMBERS:  # nobody free: both callers wait
        set_paused(stack, member, True)
    taker = Taker(TAKER_IP, stack.layout.taker_ports[0], talk_ms=1500, calls=2,
                  trace_messages=True)
    try:
        standing_by(taker)
        first = asyncio.create_task(dial(stack, struck, "3"))
        await wait_queued(stack, [1], first)  # queued, deprioritised
        second = asyncio.create_task(dial(stack, genuine, "3"))
        await wait_queued(stack, [8, 1], second)  # the genuine one ahead of the earlier one
        set_paused(stack, MEMBERS[0], False)  # one stand-in free
        await asyncio.wait_for(asyncio.gather(first, second), 120)

        late, _ = await record(stack, struck)
        early, _ = await record(stack, genuine)
        assert (late["priority"], early["priority"]) == (1, 8)
        assert late["category"] == early["category"] == "police"
        assert late["answered_by"] == early["answered_by"] == "taker-1"
        assert early["answered_at"] < late["answered_at"] and early["arrived_at"] > late[
            "arrived_at"]
        got = invited(taker)
        assert [canonical_caller(n) for n in got] == [canonical_caller(genuine),
                                                      canonical_caller(struck)], got
    finally:
        for member in MEMBERS:
            set_paused(stack, member, False)
        taker.stop()
