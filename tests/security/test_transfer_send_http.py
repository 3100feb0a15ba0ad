"""Attacks on the desk's transfer route (issue 23, item 2: POST /api/incidents/{id}/
transfers) against the live controller: a role other than calltaker (an agency user) is
403, malformed input is 400 with a reason, and nothing is sent or audited. Another
call-taker's call is tests/security/test_rights_calls.py (it needs a live SIPp call)."""

from __future__ import annotations

import secrets

import pytest

from ntpd_ivr.stack.devstack import DevStack
from tests.e2e.conftest import Controller
from tests.stack_fixtures import add_web_user

from .rights_fixtures import PASSWORD, audit_since, desk, last_audit_id, new_user

pytestmark = pytest.mark.e2e

INCIDENT = {"region": "palembang", "category": "fire", "kecamatan": "Ilir Barat I",
            "description": "uji transfer", "severity": "high"}


async def test_the_transfer_route_refuses_other_roles_and_malformed_input(
        stack: DevStack, running_controller: Controller) -> None:
    agency_user = f"tragency-{secrets.token_hex(3)}"
    add_web_user(stack, agency_user, PASSWORD, role="agency", agency="palembang-damkar")
    calltaker = new_user(stack, "tr", sip_endpoint="taker-1")
    before = await last_audit_id(stack)
    async with desk(stack, calltaker) as ct:
        status, incident = await ct.post("/api/incidents", INCIDENT)
        assert status == 201, incident
        path = f"/api/incidents/{incident['id']}/transfers"
        for body, why in (({"call": "1795800000.1"}, "neighbour is required"),
                          ({"neighbour": "banyuasin"}, "call is required"),
                          ({"neighbour": "banyuasin", "call": "1.1;drop"}, "unique id"),
                          ({"neighbour": ["banyuasin"], "call": "1.1"}, "string"),
                          ({"neighbour": "x" * 41, "call": "1.1"}, "neighbour")):
            status, reply = await ct.post(path, body)
            assert (status, reply["error"]) == (400, "bad-request"), (body, reply)
            assert why in reply["reason"], (body, reply)
    async with desk(stack, agency_user) as agency:
        status, reply = await agency.post(path, {"neighbour": "banyuasin",
                                                 "call": "1795800000.1"})
        assert (status, reply["error"]) == (403, "forbidden"), reply
    assert [e for e in await audit_since(stack, before)
            if e["action"].startswith("transfer.")] == []
