"""Attacks on the text sessions' routes (issue 22), against the live controller with a real
SMS through Kannel's fake SMSC:

- without a session: 401; an agency user (wrong role): 403;
- another call-taker's session: take 409, reply, end and callback 403 `not-yours`, reading
  it 403; a supervisor may read it, not act on it;
- malformed input: 4xx with a reason (too long, not text, unknown quick reply, bad
  disposition, bad toggle, no CSRF token, an unknown or malformed session id); a body with
  HTML is kept as text and answered as JSON.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.stack.devstack import DevStack
from tests.e2e.conftest import Controller, caller
from tests.e2e.test_location_aml import send_mo
from tests.stack_fixtures import add_web_user

from .rights_fixtures import PASSWORD, Desk, desk, new_user, supervisor_desk

pytestmark = pytest.mark.e2e


async def ask(who: Desk, method: str, path: str, body: Any = None, *,
              csrf: bool = True, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"X-CSRF-Token": who.csrf} if csrf else {}
    if raw is not None:
        headers["Content-Type"] = "application/json"
    async with who.http.request(method, f"{who.base}{path}", headers=headers,
                                json=body if raw is None else None, data=raw) as reply:
        assert reply.content_type == "application/json", await reply.text()
        return reply.status, await reply.json()


async def offered_session(who: Desk, number: str, within: float = 30.0) -> str:
    deadline = time.monotonic() + within
    while True:
        status, listed = await ask(who, "GET", "/api/texts")
        assert status == 200, listed
        found = [s["uniqueid"] for s in listed["sessions"] if s["caller_number"] == number]
        if found:
            return str(found[0])
        assert time.monotonic() < deadline, f"no session of {number} offered to {who.user}"
        await asyncio.sleep(0.2)


async def test_text_sessions_refuse_other_call_takers_roles_and_malformed_input(
        stack: DevStack, running_controller: Controller) -> None:
    one = new_user(stack, "txone", sip_endpoint="taker-1")
    two = new_user(stack, "txtwo", sip_endpoint="taker-2")
    add_web_user(stack, "txagency", PASSWORD, role="agency", agency="palembang-damkar")
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{base}/api/texts") as reply:
            assert reply.status == 401
    async with desk(stack, "txagency") as agency:
        status, refused = await ask(agency, "GET", "/api/texts")
        assert status == 403 and refused["reason"]
    number = canonical_caller(caller())
    async with desk(stack, one) as ctone, desk(stack, two) as cttwo, \
            supervisor_desk(stack) as supervisor:
        for who in (ctone, cttwo):
            assert await ask(who, "PUT", "/api/workspace/accepts-text",
                             {"accepts": True}) == (200, {"accepts": True})
        status, refused = await ask(ctone, "PUT", "/api/workspace/accepts-text",
                                    {"accepts": True}, csrf=False)
        assert (status, refused["error"]) == (403, "csrf")
        for bad in ({"accepts": "yes"}, {"accepts": None}, {}):
            status, refused = await ask(ctone, "PUT", "/api/workspace/accepts-text", bad)
            assert status == 400 and "accepts" in refused["reason"], bad
        await send_mo(stack, number, "tolong")
        uniqueid = await offered_session(cttwo, number)
        assert await offered_session(ctone, number) == uniqueid
        status, taken = await ask(cttwo, "POST", f"/api/texts/{uniqueid}/take")
        assert (status, taken["taken_by"]) == (200, two)

        # Another call-taker's session.
        status, refused = await ask(ctone, "POST", f"/api/texts/{uniqueid}/take")
        assert (status, refused["error"]) == (409, "taken") and refused["reason"]
        for path, body in (("messages", {"body": "saya ambil alih"}),
                           ("end", {"disposition": "prank"}), ("callback", {})):
            for who in (ctone, supervisor):
                status, refused = await ask(who, "POST", f"/api/texts/{uniqueid}/{path}", body)
                assert (status, refused["error"]) == (403, "not-yours"), (path, who.user)
        status, refused = await ask(ctone, "GET", f"/api/texts/{uniqueid}")
        assert (status, refused["error"]) == (403, "not-yours")
        status, seen = await ask(supervisor, "GET", f"/api/texts/{uniqueid}")
        assert (status, seen["taken_by"]) == (200, two)  # a supervisor may read it
        status, refused = await ask(supervisor, "POST", f"/api/texts/{uniqueid}/take")
        assert status == 409 and refused["error"] == "taken"

        # Malformed input from the owner: 4xx, each with its reason.
        path = f"/api/texts/{uniqueid}/messages"
        for body, status_wanted in (({"body": "x" * 460}, 413), ({"body": 5}, 400),
                                    ({"body": "  "}, 400), ({"quick": "nope"}, 400),
                                    ({"quick": "where", "body": "x"}, 400), ({}, 400),
                                    ({"body": "a\x00b"}, 400), ({"body": "a\x07b"}, 400)):
            status, refused = await ask(cttwo, "POST", path, body)
            assert status == status_wanted and refused["reason"], (body, refused)
        status, refused = await ask(cttwo, "POST", path, raw=b'{"body": ')
        assert status == 400 and refused["reason"]
        status, refused = await ask(cttwo, "POST", path, raw=b'["body"]')
        assert status == 400 and refused["reason"]
        status, refused = await ask(cttwo, "POST", f"/api/texts/{uniqueid}/end",
                                    {"disposition": "bogus"})
        assert status == 400 and "disposition" in refused["reason"]
        status, refused = await ask(cttwo, "POST", f"/api/texts/{uniqueid}/end",
                                    {"disposition": "genuine"})  # names no incident
        assert status == 400 and "incident_id" in refused["reason"]
        for missing in ("/api/texts/sms-999999999999", "/api/texts/sms-999999999999/take"):
            method = "GET" if missing.endswith("9") else "POST"
            status, refused = await ask(cttwo, method, missing)
            assert (status, refused["error"]) == (404, "not-found"), missing
        for odd in ("/api/texts/1732771200.42", "/api/texts/sms-1%3B", "/api/texts/sms-x/take"):
            status, _ = await ask(cttwo, "GET" if "take" not in odd else "POST", odd)
            assert status in (404, 405), odd
        # HTML is text: stored and answered as it was written, as JSON.
        status, message = await ask(cttwo, "POST", path, {"body": "<b>aman</b>"})
        assert (status, message["body"]) == (201, "<b>aman</b>")
        status, ended = await ask(cttwo, "POST", f"/api/texts/{uniqueid}/end",
                                  {"disposition": "test"})
        assert (status, ended["state"]) == (200, "ended")
        status, refused = await ask(cttwo, "POST", path, {"body": "lagi"})
        assert status in (404, 409) and refused["reason"]
