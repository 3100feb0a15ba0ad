"""Operator trunks and caller numbers end to end: each operator is identified by its source
address and has its own caller-ID source; whatever form the number arrives in, the record
holds one canonical caller; a withheld number is answered and recorded as withheld."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from ntpd_ivr.calls.tables import Call
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import OPERATOR_B_IP, OPERATOR_IP, TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import Taker, place_call
from tests.waiting import standing_by

from .conftest import Controller, Row, call_rows
from .test_first_call import new_caller

pytestmark = pytest.mark.e2e


@pytest.fixture
def busy_takers(stack: DevStack) -> Iterator[list[Taker]]:
    """Both call-taker stand-ins, each answering up to four calls (1 s of talk)."""
    group = [Taker(TAKER_IP, port, talk_ms=1000, calls=4) for port in stack.layout.taker_ports]
    standing_by(*group)
    yield group
    for taker in group:
        taker.stop()


def _call(stack: DevStack, source_ip: str, caller: str, pai: str | None = None) -> None:
    result = place_call(f"127.0.0.1:{stack.layout.sip_port}", source_ip, 0, digit="1",
                        caller=caller, pai=pai, digit_delay_ms=800, timeout=60)
    assert result.ok, result.output[-3000:]


async def _finished(stack: DevStack, numbers: list[str], count: int) -> list[Row]:
    deadline = time.monotonic() + 20
    while True:
        rows = await call_rows(stack, numbers)
        if len(rows) >= count and all(r["ended_at"] is not None for r in rows):
            return rows
        assert time.monotonic() < deadline, f"expected {count} finished calls: {rows}"
        await asyncio.sleep(0.3)


async def _rows_since(stack: DevStack, caller_number: str, since: datetime) -> list[Row]:
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Call.__table__).where(
                Call.caller_number == caller_number, Call.arrived_at >= since))).mappings().all()
        return [dict(row) for row in rows]
    finally:
        await engine.dispose()


async def test_one_caller_whatever_the_operator_and_the_number_format(
        stack: DevStack, running_controller: Controller, busy_takers: list[Taker]) -> None:
    national = new_caller()                  # 08xxxxxxxxxx
    canonical = "+62" + national[1:]
    other = new_caller()                     # a number operator-b's PAI wrongly asserts
    # operator-local takes P-Asserted-Identity; operator-b only the From header.
    await asyncio.to_thread(_call, stack, OPERATOR_IP, national)
    await asyncio.to_thread(_call, stack, OPERATOR_IP, "anonymous", canonical)
    await asyncio.to_thread(_call, stack, OPERATOR_B_IP, "62" + national[1:], "+62" + other[1:])

    rows = await _finished(stack, [national], 3)
    summary: list[tuple[Any, ...]] = sorted(
        (r["caller_number"], r["trunk"], r["disposition"]) for r in rows)
    assert summary == [(canonical, "operator-b", "answered"),
                       (canonical, "operator-local", "answered"),
                       (canonical, "operator-local", "answered")]
    assert all(r["answered_by"] in {"taker-1", "taker-2"} for r in rows)
    # operator-b's PAI is not trusted: that number was never recorded as a caller.
    assert await call_rows(stack, [other]) == []


async def test_a_withheld_number_is_answered_and_recorded_as_withheld(
        stack: DevStack, running_controller: Controller, busy_takers: list[Taker]) -> None:
    since = datetime.now(UTC).replace(microsecond=0)
    await asyncio.to_thread(_call, stack, OPERATOR_IP, "anonymous")
    deadline = time.monotonic() + 20
    while not (rows := await _rows_since(stack, "withheld", since)) or \
            rows[0]["ended_at"] is None:
        assert time.monotonic() < deadline, f"no finished withheld call: {rows}"
        await asyncio.sleep(0.3)
    assert len(rows) == 1, rows
    assert (rows[0]["trunk"], rows[0]["category"], rows[0]["disposition"]) == (
        "operator-local", "ambulance", "answered")
