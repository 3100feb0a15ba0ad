"""A call-taker acting on another call-taker's call (issue 19, item 3), against the live
controller with real SIPp calls through Asterisk 22:

- `ctone`, tied to one stand-in, sets `prank` on a call the other stand-in answered: 403
  with a JSON reason, and no strike; writing an incident from that call (which marks it
  genuine and clears the caller's strikes) and a `connect` dispatch naming it while it is
  live are refused too, and nothing is written;
- a supervisor may act on any call: 200, and an audit entry names the supervisor and
  whose call it was; the call-taker whose phone answered it may act on it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ntpd_ivr.dispatch.tables import Dispatch
from ntpd_ivr.incidents.tables import CallDisposition
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.prank.tables import CallerStrike
from ntpd_ivr.stack.devstack import DevStack
from tests.e2e.conftest import Controller, Takers, call_rows, caller, dial, record
from tests.e2e.test_dispatch import caller_with_a_taker, long_takers
from tests.e2e.test_prank import seed_strikes

from .rights_fixtures import audit_since, desk, last_audit_id, new_user, rows, supervisor_desk

pytestmark = pytest.mark.e2e

__all__ = ["long_takers"]  # a fixture of tests/e2e/test_dispatch.py, used here
ENDPOINTS = ("taker-1", "taker-2")
INCIDENT = {"region": "palembang", "category": "fire", "kecamatan": "Ilir Barat I",
            "description": "uji hak akses", "severity": "high"}


def other(endpoint: str) -> str:
    return next(e for e in ENDPOINTS if e != endpoint)


async def open_strikes(stack: DevStack, number: str) -> list[dict[str, object]]:
    table = CallerStrike.__table__
    return await rows(stack, select(table).where(
        table.c.number == canonical_caller(number), table.c.cleared_at.is_(None)))


async def test_a_call_taker_cannot_act_on_another_call_takers_call(
        stack: DevStack, running_controller: Controller, long_takers: Takers) -> None:
    # Web users tied to the two stand-ins, added while the controller runs.
    users = {endpoint: new_user(stack, "ct", sip_endpoint=endpoint) for endpoint in ENDPOINTS}
    number = caller()
    await seed_strikes(stack, number, 1)  # what marking a call genuine would clear
    call, uniqueid = await caller_with_a_taker(stack, number, hold_ms=14000)
    try:
        (answered,) = [r["answered_by"] for r in await call_rows(stack, [number])]
        intruder = users[other(answered)]
        async with desk(stack, intruder) as ct:
            status, body = await ct.post(f"/api/calls/{uniqueid}/disposition",
                                         {"disposition": "prank"})
            assert (status, body["error"]) == (403, "not-your-call"), body
            assert "another call-taker's phone answered it" in body["reason"]
            status, body = await ct.post("/api/incidents", {**INCIDENT, "call": uniqueid})
            assert (status, body["error"]) == (403, "not-your-call"), body
            status, incident = await ct.post("/api/incidents", INCIDENT)  # from no call
            assert status == 201, incident
            status, body = await ct.post(
                f"/api/incidents/{incident['id']}/dispatches",
                {"agency": "palembang-damkar", "mode": "connect", "call": uniqueid})
            assert (status, body["error"]) == (403, "not-your-call"), body
            # Nor may they transfer it to another 112 center (issue 23, item 2).
            status, body = await ct.post(f"/api/incidents/{incident['id']}/transfers",
                                         {"neighbour": "banyuasin", "call": uniqueid})
            assert (status, body["error"]) == (403, "not-your-call"), body
    finally:
        result = await call
    assert result.ok, result.output[-2000:]
    # Nothing was written for the intruder: no disposition, the strike as it was (not
    # one more, not cleared), no dispatch dialled into the call.
    assert await rows(stack, select(CallDisposition.__table__).where(
        CallDisposition.uniqueid == uniqueid)) == []
    assert len(await open_strikes(stack, number)) == 1
    assert await rows(stack, select(Dispatch.__table__).where(
        Dispatch.incident_id == incident["id"])) == []


async def test_a_supervisor_acts_on_anyones_call_and_it_is_audited(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    users = {endpoint: new_user(stack, "ct", sip_endpoint=endpoint) for endpoint in ENDPOINTS}
    number = caller()
    await dial(stack, number, "1")
    row, _ = await record(stack, number)
    answered, uniqueid = row["answered_by"], row["uniqueid"]
    assert answered in ENDPOINTS, row
    before = await last_audit_id(stack)
    async with supervisor_desk(stack) as spv:
        status, body = await spv.post(f"/api/calls/{uniqueid}/disposition",
                                      {"disposition": "test"})
        assert status == 200, body
    async with desk(stack, users[answered]) as owner:  # their own phone answered it
        status, body = await owner.post(f"/api/calls/{uniqueid}/disposition",
                                        {"disposition": "silent"})
        assert status == 200, body
    entries = await audit_since(stack, before, subject_type="call", subject_id=uniqueid)
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("supervisor", "call.override"), ("supervisor", "call.disposition"),
        (users[answered], "call.disposition")]
    override = entries[0]["detail"]
    assert (override["action"], override["answered_by"]) == ("disposition", answered)
    assert users[answered] in override["answered_by_users"]
    assert users[other(answered)] not in override["answered_by_users"]
