"""Routing end to end: SIPp callers from the operator trunk -> Asterisk 22 -> the IVR and
routing engine (config/routing.example.toml) -> call-taker queues or agency trunk stand-ins,
with the call record and its steps (call_events) read back from PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from ntpd_ivr.stack.devstack import AGENCY_IP, OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import SCENARIOS, Taker
from tests.waiting import held_reachable

from .conftest import Controller, Takers, caller, dial, record
from .test_first_call import who_answered

pytestmark = pytest.mark.e2e


def step(steps: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [s["detail"] for s in steps if s["kind"] == kind]
    assert len(found) == 1, f"one {kind} step expected: {steps}"
    return found[0]


@pytest.fixture
def agencies(stack: DevStack) -> Iterator[dict[str, Any]]:
    started: dict[str, Taker] = {}

    def start(trunk: str, scenario: str) -> Taker:
        started[trunk] = Taker(AGENCY_IP, stack.layout.agency_port(trunk), talk_ms=1000,
                               scenario=scenario)
        held_reachable(stack.asterisk, trunk)  # the trunk is dialled
        return started[trunk]

    holder: dict[str, Any] = {"start": start}
    yield holder
    for taker in started.values():
        if taker.process.poll() is not None:
            taker.wait(timeout=2)  # reads and closes its output pipe
        taker.stop()


@pytest.mark.parametrize(("digit", "category", "priority"), [
    ("1", "ambulance", 10), ("2", "fire", 10), ("3", "police", 8), ("4", "disaster", 8),
    ("7", "unclassified", 5),
])
async def test_menu_digit_lands_with_its_category_and_priority(
        stack: DevStack, running_controller: Controller, takers: Takers, digit: str,
        category: str, priority: int) -> None:
    number = caller()
    await dial(stack, number, digit)
    taker = await who_answered(takers)
    row, steps = await record(stack, number, kinds=frozenset({"route.decision"}))
    decision = step(steps, "route.decision")
    assert (row["category"], row["ivr_digit"], row["queue"]) == (category, digit,
                                                                  "takers-default")
    assert row["answered_by"] == taker
    assert decision["priority"] == priority
    assert decision["reason"] == ("menu" if digit != "7" else "invalid-input")
    assert (decision["region"], decision["region_match"]) == ("sumsel", "trunk")
    assert step(steps, "ivr.prompt")["prompt"] == "id/menu"
    assert step(steps, "ivr.input")["digit"] == digit


async def test_no_input_reaches_a_queue_within_10_seconds(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    await dial(stack, number, None)
    await who_answered(takers)
    row, steps = await record(stack, number, kinds=frozenset({"route.decision"}))
    decision = step(steps, "route.decision")
    assert (row["route_reason"], row["category"]) == ("no-input", "unclassified")
    assert step(steps, "ivr.input")["timed_out"] is True
    assert decision["seconds_in_ivr"] <= 10.5
    assert (row["queued_at"] - row["arrived_at"]).total_seconds() <= 11


async def test_legacy_118_skips_the_menu(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    await dial(stack, number, None, dialed="118")
    await who_answered(takers)
    row, steps = await record(stack, number, kinds=frozenset({"route.decision"}))
    assert (row["dialed"], row["category"], row["route_reason"]) == (
        "118", "ambulance", "legacy-118")
    assert step(steps, "route.decision")["priority"] == 10
    # No menu (which would hold this silent caller 10 s): no prompt played, no key read.
    assert not [s for s in steps if s["kind"] in ("ivr.prompt", "ivr.input")]


async def test_direct_agency_reaches_the_agency_trunk(
        stack: DevStack, running_controller: Controller, takers: Takers,
        agencies: dict[str, Any]) -> None:
    damkar = agencies["start"]("agency-damkar-plg", "agency-answer.xml")
    number = caller("0711")  # Palembang: fire goes straight to Damkar
    await dial(stack, number, "2")
    result = damkar.wait(timeout=10)
    assert result.ok, result.output[-2000:]
    rung = {name: t.wait(1) for name, t in takers.by_name.items() if t.process.poll() is not None}
    # Which stand-in ended, and how (a call it answered, or a fault of its own), for the
    # next person to read this failure (CI saw it once, stop 30, not reproduced).
    assert not rung, "call-taker(s) ended although the agency answered: " + "; ".join(
        f"{name} exit {r.returncode}: {r.output[-1500:]}" for name, r in rung.items())
    row, steps = await record(stack, number, kinds=frozenset({"agency.attempt"}))
    decision = step(steps, "route.decision")
    assert (decision["region"], decision["agency"], decision["agency_reason"]) == (
        "palembang", "palembang-damkar", "direct")
    attempt = step(steps, "agency.attempt")
    assert (attempt["attempt"], attempt["trunk"], attempt["result"]) == (
        "primary", "PJSIP/agency-damkar-plg", "ANSWER")
    assert row["category"] == "fire" and row["answered_by"] is None


async def test_agency_busy_then_backup_busy_then_a_call_taker(
        stack: DevStack, running_controller: Controller, takers: Takers,
        agencies: dict[str, Any]) -> None:
    agencies["start"]("agency-damkar-plg", "agency-busy.xml")
    agencies["start"]("agency-damkar-plg-backup", "agency-busy.xml")
    number = caller("0711")
    await dial(stack, number, "2")
    taker = await who_answered(takers)
    row, steps = await record(stack, number, kinds=frozenset({"agency.attempt"}))
    attempts = [(s["detail"]["attempt"], s["detail"]["result"]) for s in steps
                if s["kind"] == "agency.attempt"]
    assert attempts == [("primary", "BUSY"), ("backup", "BUSY")]
    assert (row["queue"], row["answered_by"], row["category"]) == (
        "takers-palembang", taker, "fire")


async def test_region_without_call_taker_overflows_to_the_province(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller("0714")  # Musi Banyuasin: takers-muba has nobody logged in
    await dial(stack, number, "3")
    await who_answered(takers)
    row, steps = await record(stack, number, kinds=frozenset({"route.decision"}))
    decision = step(steps, "route.decision")
    assert (decision["region"], decision["queue_reason"]) == ("muba", "overflow-no-call-taker")
    assert row["queue"] == "takers-default"


async def test_hang_up_during_the_prompt_is_recorded(
        stack: DevStack, running_controller: Controller) -> None:
    number = caller()
    workdir = tempfile.mkdtemp(prefix="ntpd-sipp-hangup-")
    try:
        proc = await asyncio.to_thread(subprocess.run, [
            shutil.which("sipp") or "sipp", f"127.0.0.1:{stack.layout.sip_port}",
            "-sf", str(SCENARIOS / "caller-hangup-in-menu.xml"), "-i", OPERATOR_IP, "-p", "0",
            "-s", "112", "-key", "caller", number, "-d", "2000", "-m", "1", "-nostdin"],
            cwd=workdir, capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
    row, steps = await record(stack, number, kinds=frozenset({"ivr.hangup"}))
    assert row["route_reason"] == "hangup-in-ivr"
    assert row["queue"] is None and row["answered_at"] is None
    assert [s["kind"] for s in steps if s["kind"].startswith("ivr.")] == [
        "ivr.prompt", "ivr.hangup"]
