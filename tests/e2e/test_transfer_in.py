"""Receiving a transfer from a neighbouring 112 center (issue 23 item 3) against the real
stack: the neighbour's trunk rendered by `ntpd-ivr config reload`, its EIDO POSTed to the
controller's transfer listener, then a SIPp caller from the neighbour's address with the
reference in Call-Info: no menu, the front of the queue, the call-taker's pop carries the
incident the first center typed, and the calls record links the first center's call. A
malformed EIDO is refused with its reason; a caller from another address that names the
neighbour is not the neighbour's."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from ntpd_ivr.stack.devstack import DevStack
from ntpd_ivr.stack.sipp import place_call
from tests.stack_fixtures import add_web_user
from tests.transfer_fixtures import REMOTE_CALL_ID, TOKEN, eido_bytes

from .conftest import Controller, Takers, call_rows, caller, record
from .test_config_reload import config_reload
from .test_workspace import PASSWORD, screen

pytestmark = pytest.mark.e2e

NEIGHBOUR_IP = "127.0.0.50"   # the neighbour center's SIP trunk (its identify address)
STRANGER_IP = "127.0.0.51"    # anyone else
USERS = {"tr-ani": "taker-1", "tr-budi": "taker-2"}
NEIGHBOUR = f"""
[regions.sumsel.neighbours.banyuasin]
name = "Banyuasin Siaga 112"
level = "kabupaten"
trunk = "center-banyuasin"
match = ["{NEIGHBOUR_IP}"]
eido_url = "http://127.0.0.50:13092/eido/transfers"
token_file = "transfer-secrets/banyuasin.token"
"""


@pytest.fixture(scope="module")
def neighbour(stack: DevStack, controller: Controller) -> Iterator[str]:
    """The neighbour in the stack's routing config (reloaded into Asterisk), desk users tied
    to the stand-ins, the controller restarted to read both; put back afterwards."""
    original = stack.routing_file.read_text()
    secrets = stack.routing_file.parent / "transfer-secrets"
    secrets.mkdir(exist_ok=True)
    token = secrets / "banyuasin.token"
    token.write_text(TOKEN + "\n")
    os.chmod(token, 0o600)
    for name, endpoint in USERS.items():
        add_web_user(stack, name, PASSWORD, sip_endpoint=endpoint)
    stack.routing_file.write_text(original + NEIGHBOUR)
    reload = config_reload(stack)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    controller.stop()
    controller.start()
    yield f"http://127.0.0.1:{stack.layout.transfer_port}/eido/transfers"
    stack.routing_file.write_text(original)
    assert config_reload(stack).returncode == 0
    assert stack.asterisk is not None
    for endpoint in USERS.values():  # out of wrap-up, as the other tests expect them
        stack.asterisk.cli(f"queue unpause member PJSIP/{endpoint}")


async def post(url: str, body: bytes, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(
            url, data=body, headers={"Authorization": f"Bearer {token}",
                                     "Content-Type": "application/json"}) as reply:
        return reply.status, await reply.json()


async def test_a_transferred_call_skips_the_ivr_and_pops_with_the_first_centers_incident(
        stack: DevStack, neighbour: str, running_controller: Controller,
        takers: Takers) -> None:
    assert stack.asterisk is not None
    assert "center-banyuasin" in stack.asterisk.cli("pjsip show endpoints")
    status, sent = await post(neighbour, eido_bytes())
    assert status == 201, sent
    number = caller()
    async with screen(stack, "tr-ani") as ani, screen(stack, "tr-budi") as budi:
        call = asyncio.create_task(asyncio.to_thread(
            place_call, f"127.0.0.1:{stack.layout.sip_port}", NEIGHBOUR_IP, 0, digit=None,
            caller=number, timeout=60, scenario="neighbour-transfer.xml",
            keys={"call_info": sent["url"], "from_name": "Banyuasin Siaga 112"}))
        waits = [asyncio.create_task(s.next_event("call.ringing", 30)) for s in (ani, budi)]
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        pop, _ = done.pop().result()
        result = await call
    assert result.ok, result.output[-3000:]
    row, steps = await record(stack, number, kinds=frozenset({"transfer.received"}))
    kinds = [s["kind"] for s in steps]
    assert "ivr.prompt" not in kinds and "ivr.input" not in kinds  # no menu
    assert (row["trunk"], row["route_reason"], row["priority"], row["category"]) == (
        "center-banyuasin", "transfer", 101, "fire"), row
    [received] = [s["detail"] for s in steps if s["kind"] == "transfer.received"]
    assert (received["neighbour"], received["eido"], received["remote_call_id"],
            received["reference"]) == ("banyuasin", "linked", REMOTE_CALL_ID,
                                       sent["reference"])
    # The pop carries the incident the first center's call-taker typed.
    assert pop["uniqueid"] == row["uniqueid"]
    form = pop["transfer"]["form"]
    assert pop["transfer"]["neighbour"] == "banyuasin"
    assert (form["category"], form["kecamatan"], form["desa"], form["remote_call_id"]) == (
        "fire", "Sekayu", "Kayuara", REMOTE_CALL_ID)
    assert form["description"].startswith("Rumah terbakar")


async def test_a_malformed_or_unauthenticated_eido_is_refused_with_its_reason(
        neighbour: str, running_controller: Controller) -> None:
    document = json.loads(eido_bytes())
    document["callComponent"][0]["direction"] = "sideways"
    status, body = await post(neighbour, json.dumps(document).encode())
    assert status == 400 and "/callComponent/0/direction" in body["reason"], body
    status, body = await post(neighbour, b"{not json")
    assert status == 400 and "not JSON" in body["reason"], body
    status, body = await post(neighbour, eido_bytes(), token="x" * 40)
    assert (status, body["reason"]) == (401, "no valid neighbour token")


async def test_a_caller_from_another_address_naming_the_neighbour_is_not_its(
        stack: DevStack, neighbour: str, running_controller: Controller,
        takers: Takers) -> None:
    status, sent = await post(neighbour, eido_bytes())
    assert status == 201
    number = caller()
    result = await asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", STRANGER_IP, 0, digit=None,
        caller=number, timeout=20, scenario="neighbour-transfer.xml",
        keys={"call_info": sent["url"], "from_name": "center-banyuasin"})
    assert not result.ok, result.output[-2000:]
    assert await call_rows(stack, [number]) == []
