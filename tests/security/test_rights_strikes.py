"""Strikes and unblocks seen by the running controller, not only in the database
(issue 19): a number with strikes enough to be blocked first gets the blocked treatment
on a real call (the controller's strike view has it), then, after an unblock from the
command line or the supervisor's route, its next real call reaches a call-taker."""

from __future__ import annotations

import asyncio
import time

import pytest

from ntpd_ivr.stack.devstack import DevStack
from ntpd_ivr.stack.sipp import Taker
from tests.e2e.conftest import Controller, caller
from tests.e2e.test_prank import (
    call,
    calls_of,
    prank_policy,
    seed_strikes,
    stand_ins,
    strikes_cli,
)

from .rights_fixtures import supervisor_desk

pytestmark = pytest.mark.e2e

__all__ = ["prank_policy", "stand_ins"]  # fixtures of tests/e2e/test_prank.py, used here


async def wait_until_known(controller: Controller, at_least: int) -> None:
    """The controller's strike view (refreshed every second under prank_policy) holds at
    least this many numbers."""
    deadline = time.monotonic() + 30
    while controller.health()[1]["prank"]["numbers"] < at_least:
        assert time.monotonic() < deadline, controller.health()[1]["prank"]
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("unblock", ["cli", "supervisor"])
async def test_the_controller_blocks_a_number_then_frees_it_after_the_unblock(
        stack: DevStack, prank_policy: None, running_controller: Controller,
        stand_ins: list[Taker], unblock: str) -> None:
    number = caller()
    known = running_controller.health()[1]["prank"]["numbers"]
    await seed_strikes(stack, number, 3)  # block_at = 3 under prank_policy
    await wait_until_known(running_controller, known + 1)
    # The controller's own view blocks it: a real call gets the blocked message and ends.
    await asyncio.to_thread(call, stack, number, None)
    (blocked,) = await calls_of(stack, number, 1)
    assert blocked["route_reason"] == "prank-blocked", blocked
    assert blocked["steps"]["prank.policy"]["level"] == "block"
    assert blocked["answered_by"] is None

    if unblock == "cli":
        known = running_controller.health()[1]["prank"]["numbers"]
        done = await asyncio.to_thread(strikes_cli, stack, "unblock", number, "--by",
                                       "spv-rights")
        assert "3 strike(s) cleared by spv-rights" in done, done
        # The command line reaches the controller at its next refresh (1 s here): the
        # number leaves its view.
        deadline = time.monotonic() + 30
        while running_controller.health()[1]["prank"]["numbers"] >= known:
            assert time.monotonic() < deadline, running_controller.health()[1]["prank"]
            await asyncio.sleep(0.2)
    else:
        async with supervisor_desk(stack) as spv:
            status, body = await spv.post("/api/strikes/unblock", {"number": number})
            assert (status, body["cleared"]) == (200, 3), body

    # Freed in the controller: the next real call is answered, with no policy applied.
    await asyncio.to_thread(call, stack, number, "1")
    blocked_again, freed = await calls_of(stack, number, 2)
    assert blocked_again["uniqueid"] == blocked["uniqueid"]
    assert "prank.policy" not in freed["steps"], freed["steps"]
    assert freed["route_reason"] != "prank-blocked"
    assert freed["disposition"] == "answered" and freed["answered_by"] in ("taker-1",
                                                                           "taker-2")
