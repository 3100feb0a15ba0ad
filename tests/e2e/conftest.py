"""Helpers of the end-to-end tests: the calls' rows and steps, a caller placing a call.
The stack itself (one Asterisk 22 and one PostgreSQL for the whole session, the real
controller as a subprocess, the SIPp call-taker stand-ins) is tests/stack_fixtures.py,
shared with the browser tests; its names are re-exported here for the tests' imports."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ntpd_ivr.calls.tables import Call, CallEvent
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import place_call
from tests.stack_fixtures import Controller, Takers

__all__ = ["Controller", "Row", "Takers", "call_rows", "call_steps", "caller", "dial",
           "record"]

Row = dict[str, Any]


async def call_rows(stack: DevStack, callers: Sequence[str]) -> list[Row]:
    """The `calls` rows of these caller numbers (in any form: records hold the canonical
    one, ntpd_ivr/numbers.py), read from the stack's PostgreSQL."""
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Call.__table__).where(
                Call.caller_number.in_([canonical_caller(c) for c in callers])))
                    ).mappings().all()
        return [dict(row) for row in rows]
    finally:
        await engine.dispose()


async def call_steps(stack: DevStack, uniqueid: str) -> list[Row]:
    """The call's `call_events` rows, oldest first."""
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            steps = (await conn.execute(select(CallEvent.__table__).where(
                CallEvent.uniqueid == uniqueid).order_by(CallEvent.at))).mappings().all()
        return [dict(step) for step in steps]
    finally:
        await engine.dispose()


def caller(prefix: str = "08") -> str:
    return prefix + "".join(random.choices("0123456789", k=12 - len(prefix)))


async def record(stack: DevStack, number: str, *, kinds: frozenset[str] = frozenset(),
                 wait_s: float = 15.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The caller's finished call row and its steps (once the `kinds` are all there)."""
    deadline = time.monotonic() + wait_s
    while True:
        rows = await call_rows(stack, [number])
        steps = await call_steps(stack, rows[0]["uniqueid"]) if len(rows) == 1 else []
        if (len(rows) == 1 and rows[0]["ended_at"] is not None
                and kinds <= {s["kind"] for s in steps}):
            return rows[0], steps
        assert time.monotonic() < deadline, f"no finished record for {number}: {rows} {steps}"
        await asyncio.sleep(0.3)


async def dial(stack: DevStack, number: str, digit: str | None, *, dialed: str = "112",
               delay_ms: int = 1200) -> None:
    result = await asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, dialed=dialed,
        digit=digit, caller=number, digit_delay_ms=delay_ms, timeout=60)
    assert result.ok, result.output[-3000:]


@pytest.fixture
async def supervisor(stack: DevStack) -> AsyncIterator[tuple[aiohttp.ClientSession, str, str]]:
    """The stack's supervisor logged in to the controller's web app: (session, base URL,
    CSRF token for the next unsafe request)."""
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/api/csrf") as reply:
            token = (await reply.json())["csrf_token"]
        async with http.post(f"{base}/login", json={
                "user": "supervisor", "password": stack.secrets["web_supervisor_password"]},
                headers={"X-CSRF-Token": token}) as reply:
            assert reply.status == 200, await reply.text()
            token = (await reply.json())["csrf_token"]
        yield http, base, token
