"""Numbers dialled out in the form each trunk wants (routing config `number_format`),
against the real Asterisk and controller with SIPp trunk stand-ins: the callback line
written "national" gets `INVITE sip:0812…@`, and Damkar's trunk written "international"
gets the caller as `62711…` in From. The stack's routing file is edited and reloaded
(`ntpd-ivr config reload`), then put back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest
from sqlalchemy import select

from ntpd_ivr.callbacks.tables import Callback, CallbackAttempt
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.stack.devstack import AGENCY_IP, TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import Taker
from tests.waiting import held_reachable, standing_by

from .conftest import Controller, caller, dial, record
from .test_callbacks_recordings import (
    abandon_in_queue,
    call_back,
    called_back_phone,
    rows,
    supervisor_session,
    wait_for,
)
from .test_config_reload import config_reload

pytestmark = pytest.mark.e2e

DAMKAR = 'primary_trunk = "agency-damkar-plg"\n'
CALLBACK_LINE = '[outbound_trunks.callback-line]\nnumber_format = "e164"\n'


@pytest.fixture
def formats(stack: DevStack, running_controller: Controller) -> Iterator[None]:
    """The callback line national, Damkar international; put back afterwards."""
    original = stack.routing_file.read_text()
    assert DAMKAR in original and CALLBACK_LINE in original
    stack.routing_file.write_text(
        original.replace(DAMKAR, DAMKAR + 'number_format = "international"\n', 1)
        .replace(CALLBACK_LINE, CALLBACK_LINE.replace("e164", "national"), 1))
    reload = config_reload(stack)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    yield
    stack.routing_file.write_text(original)
    assert config_reload(stack).returncode == 0


def first_invite(output: str) -> str:
    return next(block for block in output.split("\n\n") if "INVITE sip:" in block)


async def test_a_callback_dials_the_number_as_the_callback_line_writes_it(
        stack: DevStack, formats: None) -> None:
    number = caller()
    canonical = canonical_caller(number)
    await abandon_in_queue(stack, number)
    cb = Callback.__table__
    listed = await wait_for(stack, select(cb).where(cb.c.caller_number == canonical),
                            lambda found: bool(found), 20, "the abandoned call listed")
    phone = called_back_phone(stack)
    taker = Taker(TAKER_IP, stack.layout.taker_ports[0], talk_ms=2500)
    try:
        standing_by(phone, taker)
        held_reachable(stack.asterisk, "callback-line", "taker-1")  # after the reload
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            token = await supervisor_session(stack, http)
            status, body = await call_back(stack, http, token, listed[0]["id"])
            assert status == 202, body
        done = await wait_for(stack, select(cb).where(cb.c.id == listed[0]["id"]),
                              lambda found: found[0]["status"] != "calling", 45,
                              "the callback's outcome")
        result = await asyncio.to_thread(phone.wait, 30)
        attempts = await rows(stack, select(CallbackAttempt.__table__).where(
            CallbackAttempt.__table__.c.callback_id == listed[0]["id"]))
        assert done[0]["status"] == "reached", (
            [(a["outcome"], a["detail"]) for a in attempts], result.output[-1500:])
        invite = first_invite(result.output)
        national = "0" + canonical[3:]
        assert f"INVITE sip:{national}@" in invite, invite  # +62812… written 0812…
        to_header = next(line for line in invite.splitlines() if line.startswith("To:"))
        assert f"<sip:{national}@" in to_header, invite
        assert "Priority: psap-callback" in invite  # the rest as before
    finally:
        phone.stop()
        taker.stop()


async def test_a_direct_agency_gets_the_caller_as_its_trunk_writes_numbers(
        stack: DevStack, formats: None) -> None:
    damkar = Taker(AGENCY_IP, stack.layout.agency_port("agency-damkar-plg"), talk_ms=1000,
                   scenario="agency-answer.xml", trace_messages=True)
    try:
        held_reachable(stack.asterisk, "agency-damkar-plg")  # again after the reload
        number = caller("0711")  # Palembang: fire goes straight to Damkar
        await dial(stack, number, "2")
        result = await asyncio.to_thread(damkar.wait, 10)
        assert result.ok, result.output[-2000:]
        invite = first_invite(result.output)
        from_header = next(line for line in invite.splitlines() if line.startswith("From:"))
        assert f"<sip:62{number[1:]}@" in from_header, invite  # 0711… written 62711…
        row, _ = await record(stack, number, kinds=frozenset({"agency.attempt"}))
        assert row["caller_number"] == "+62" + number[1:]  # the record stays canonical
    finally:
        damkar.stop()
