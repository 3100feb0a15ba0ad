"""Prank and silent-call protection (issue 11) against the real stack: SIPp callers through
Asterisk 22 into the controller, strikes and records read from PostgreSQL.

The stack's routing file gets small thresholds for these tests (warn at 1 strike,
deprioritise at 2, block at 3; the view refreshed every second) and is put back after.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.prank import store
from ntpd_ivr.prank.tables import CallerStrike
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import Taker, place_call
from tests.waiting import standing_by

from .conftest import Controller, call_steps, caller
from .test_config_reload import config_reload

pytestmark = pytest.mark.e2e

TEST_POLICY = {"warn_at = 2\n": "warn_at = 1\n",
               "deprioritise_at = 3\n": "deprioritise_at = 2\n",
               "block_at = 5 ": "block_at = 3 ",
               "refresh_seconds = 10.0 ": "refresh_seconds = 1.0 "}
Row = dict[str, Any]


@pytest.fixture(scope="module")
def prank_policy(stack: DevStack, controller: Controller) -> Iterator[None]:
    original = stack.routing_file.read_text()
    text = original
    for old, new in TEST_POLICY.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    stack.routing_file.write_text(text)
    if controller.process is None:
        controller.start()
    reload = config_reload(stack)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    yield
    stack.routing_file.write_text(original)
    if controller.process is not None:
        assert config_reload(stack).returncode == 0


@pytest.fixture
def stand_ins(stack: DevStack) -> Iterator[list[Taker]]:
    takers = [Taker("127.0.0.3", port, talk_ms=1500, calls=5)
              for port in stack.layout.taker_ports]
    standing_by(*takers)
    yield takers
    for taker in takers:
        taker.stop()


async def db_rows(stack: DevStack, query: Any) -> list[Row]:
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]
    finally:
        await engine.dispose()


async def calls_of(stack: DevStack, number: str, count: int, wait_s: float = 20.0) -> list[Row]:
    """The number's `count` finished calls, oldest first, with their steps."""
    deadline = time.monotonic() + wait_s
    while True:
        table = Call.__table__
        rows = await db_rows(stack, select(table).where(
            table.c.caller_number == canonical_caller(number)).order_by(table.c.arrived_at))
        if len(rows) == count and all(r["ended_at"] is not None for r in rows):
            for row in rows:
                row["steps"] = {s["kind"]: s["detail"]
                                for s in await call_steps(stack, row["uniqueid"])}
            if all("silence.signals" in r["steps"] or r["route_reason"] == "prank-blocked"
                   for r in rows):
                return rows
        assert len(rows) <= count, rows
        assert time.monotonic() < deadline, f"{count} calls of {number} not finished: {rows}"
        await asyncio.sleep(0.3)


async def strikes_of(stack: DevStack, number: str, count: int, wait_s: float = 10.0
                     ) -> list[Row]:
    deadline = time.monotonic() + wait_s
    table = CallerStrike.__table__
    while True:
        rows = await db_rows(stack, select(table).where(
            table.c.number == canonical_caller(number), table.c.cleared_at.is_(None)))
        if len(rows) >= count:
            assert len(rows) == count, rows
            return rows
        assert time.monotonic() < deadline, f"{count} strikes of {number}: {rows}"
        await asyncio.sleep(0.2)


def call(stack: DevStack, number: str, digit: str | None, *, scenario: str | None = None,
         delay_ms: int = 1200) -> None:
    result = place_call(f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit=digit,
                        caller=number, digit_delay_ms=delay_ms, timeout=60, scenario=scenario)
    assert result.ok, result.output[-3000:]


async def hang_up_in_menu(stack: DevStack, number: str) -> None:
    await asyncio.to_thread(call, stack, number, None, scenario="caller-hangup-in-menu.xml",
                            delay_ms=1500)


async def test_repeated_silent_calls_warn_then_deprioritise_then_block_with_escape(
        stack: DevStack, prank_policy: None, stand_ins: list[Taker],
        supervisor: tuple[aiohttp.ClientSession, str, str]) -> None:
    number = caller()
    # 1: silent, hangs up in the menu: detected, a strike.
    await hang_up_in_menu(stack, number)
    await strikes_of(stack, number, 1)
    # 2: warned (the dialplan plays the warning before the queue); no key, answered, the
    # call-taker hangs up 1.5 s later: silent again.
    assert stack.asterisk is not None
    warnings_played = stack.asterisk.messages_log.read_text().count("prank-warn")
    await asyncio.to_thread(call, stack, number, None)
    await strikes_of(stack, number, 2)
    assert stack.asterisk.messages_log.read_text().count("prank-warn") > warnings_played
    # 3: deprioritised; no key, a call-taker answers and hangs up 1.5 s later: silent.
    await asyncio.to_thread(call, stack, number, None)
    await strikes_of(stack, number, 3)
    # 4: blocked; presses nothing: the message, then Asterisk ends the call.
    await asyncio.to_thread(call, stack, number, None)
    # 5: blocked; presses the escape key 0 during the message: a call-taker answers.
    await asyncio.to_thread(call, stack, number, "0")
    first, warned, deprioritised, blocked, escaped = await calls_of(stack, number, 5)

    assert first["steps"]["silence.signals"]["silent"] is True
    assert first["steps"]["silence.signals"]["hangup"] == "in-ivr"
    assert first["steps"]["silence.signals"]["dtmf"] is False
    assert first["steps"]["silence.signals"]["voice_ivr"] is False
    assert "prank.policy" not in first["steps"]
    assert warned["steps"]["prank.policy"]["level"] == "warn"
    assert warned["priority"] == 4 and warned["disposition"] == "answered"  # behind 5
    assert deprioritised["steps"]["prank.policy"]["level"] == "deprioritise"
    assert deprioritised["priority"] == 1 and deprioritised["disposition"] == "answered"
    assert deprioritised["steps"]["silence.signals"]["hangup"] == "after-answer"
    assert blocked["steps"]["prank.policy"]["level"] == "block"
    assert blocked["steps"]["prank.blocked"] == {"escape": True, "pressed": ""}
    assert blocked["route_reason"] == "prank-blocked" and blocked["answered_by"] is None
    assert escaped["steps"]["prank.escape"] == {"key": "0"}
    assert escaped["disposition"] == "answered"
    assert escaped["answered_by"] in ("taker-1", "taker-2")
    assert escaped["steps"]["silence.signals"]["dtmf"] is True
    await strikes_of(stack, number, 3)  # neither blocked call added one

    http, base, _ = supervisor
    async with http.get(f"{base}/api/strikes", params={"number": number}) as reply:
        assert reply.status == 200
        (listed,) = (await reply.json())["numbers"]
    assert (listed["strikes"], listed["level"]) == (3, "block")

    audit = await db_rows(stack, select(AuditEvent.action).where(
        AuditEvent.subject_type == "caller",
        AuditEvent.subject_id == canonical_caller(number)).order_by(AuditEvent.id))
    actions = [r["action"] for r in audit]
    for action in ("prank.strike", "prank.warn", "prank.deprioritise", "prank.block",
                   "prank.escape"):
        assert action in actions, actions


async def test_a_supervisor_unblock_takes_effect_on_the_next_call(
        stack: DevStack, prank_policy: None, running_controller: Controller,
        stand_ins: list[Taker], supervisor: tuple[aiohttp.ClientSession, str, str]) -> None:
    number = caller()
    numbers = running_controller.health()[1]["prank"]["numbers"]
    await seed_strikes(stack, number, 3)
    # The controller's view (refreshed every second) holds the block: else the unblock
    # below would prove nothing.
    deadline = time.monotonic() + 30
    while running_controller.health()[1]["prank"]["numbers"] <= numbers:
        assert time.monotonic() < deadline, running_controller.health()[1]["prank"]
        await asyncio.sleep(0.2)
    listed = await asyncio.to_thread(strikes_cli, stack, "list", "--number", number)
    assert canonical_caller(number) in listed and " block " in listed, listed
    http, base, token = supervisor
    async with http.post(f"{base}/api/strikes/unblock", json={"number": number}) as reply:
        assert reply.status == 403  # no CSRF token: refused
    async with http.post(f"{base}/api/strikes/unblock", json={"number": number},
                         headers={"X-CSRF-Token": token}) as reply:
        assert reply.status == 200, await reply.text()
        assert (await reply.json())["cleared"] == 3
    # At once: no refresh to wait for.
    await asyncio.to_thread(call, stack, number, "1")
    (row,) = await calls_of(stack, number, 1)
    assert "prank.policy" not in row["steps"]
    assert (row["priority"], row["disposition"]) == (10, "answered")
    audit = await db_rows(stack, select(AuditEvent.actor, AuditEvent.detail).where(
        AuditEvent.action == "prank.unblocked",
        AuditEvent.subject_id == canonical_caller(number)))
    assert [(a["actor"], a["detail"]["cleared"]) for a in audit] == [("supervisor", 3)]


def strikes_cli(stack: DevStack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ntpd_ivr", "strikes", *args, "--config",
                           str(stack.layout.settings_file)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def seed_strikes(stack: DevStack, number: str, count: int) -> None:
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.begin() as conn:
            for _ in range(count):
                await store.add_strike(conn, store.Strike(
                    canonical_caller(number), datetime.now(UTC), "prank", "test-seed"))
    finally:
        await engine.dispose()


async def test_a_blocked_number_reaches_a_call_taker_during_a_database_outage(
        stack: DevStack, prank_policy: None, running_controller: Controller,
        stand_ins: list[Taker]) -> None:
    number = caller()
    await seed_strikes(stack, number, 3)
    deadline = time.monotonic() + 10
    while running_controller.health()[1]["prank"]["numbers"] == 0:
        assert time.monotonic() < deadline, running_controller.health()[1]["prank"]
        await asyncio.sleep(0.2)
    try:
        await asyncio.to_thread(stack.postgres.stop, "immediate")
        deadline = time.monotonic() + 15
        while running_controller.health()[1]["prank"]["view"] != "unavailable":
            assert time.monotonic() < deadline, running_controller.health()[1]["prank"]
            await asyncio.sleep(0.2)
        await asyncio.to_thread(call, stack, number, None)
    finally:
        await asyncio.to_thread(stack.postgres.start)
    (row,) = await calls_of(stack, number, 1, wait_s=30)
    assert "prank.policy" not in row["steps"]
    assert row["disposition"] == "answered" and row["answered_by"] in ("taker-1", "taker-2")
    deadline = time.monotonic() + 15
    while running_controller.health()[1]["prank"]["view"] != "ok":
        assert time.monotonic() < deadline, running_controller.health()[1]["prank"]
        await asyncio.sleep(0.2)
    # The call was silent (no key, answered, ended 1.5 s later): its strike waited in the
    # controller's writer through the outage and is stored now, once.
    await strikes_of(stack, number, 4, wait_s=15)
    # The CLI unblocks (audited); the controller applies it at its next refresh.
    done = await asyncio.to_thread(strikes_cli, stack, "unblock", number, "--by", "spv-budi")
    assert "4 strike(s) cleared by spv-budi" in done, done


async def test_a_caller_who_speaks_in_the_menu_is_not_silent(
        stack: DevStack, prank_policy: None) -> None:
    """TALK_DETECT works in the chrooted Asterisk 22: voice in the IVR is on the record,
    and the hang-up in the menu adds no strike."""
    number = caller()
    await asyncio.to_thread(call, stack, number, None, scenario="caller-voice-hangup.xml",
                            delay_ms=4000)
    (row,) = await calls_of(stack, number, 1)
    signals = row["steps"]["silence.signals"]
    assert (signals["voice_ivr"], signals["silent"], signals["hangup"]) == (True, False,
                                                                            "in-ivr")
    assert await db_rows(stack, select(CallerStrike.id).where(
        CallerStrike.number == canonical_caller(number))) == []
