"""Transferring a live caller to a neighbouring 112 center from the desk (issue 23 item 2)
against the real stack: a SIPp caller answered by a call-taker stand-in, whose desk user
saves the incident and transfers it to a neighbour of the call's region.

The neighbour's EIDO endpoint is this stack's own transfer listener (a loopback eido_url, as
config check allows), so the same run proves both ends of the EIDO step: our POST, its token
and the 201 whose url becomes the Call-Info; the neighbour's transfers_in row carries our
call's id. Its SIP side is a SIPp stand-in at the neighbour's `contact` (127.0.0.52:5060,
the agency stand-in's scenario: answer, then a key by SIP INFO): the INVITE it gets carries
the Call-Info and the caller's own number; on key 1 the caller, our call-taker and the
neighbour share the conference, our call-taker hands over and the caller stays with the
neighbour; on key 2 the caller never moved. A neighbour without a contact is 409, a dark one
(nothing at its eido_url) 502, each with the reason in the call-taker's language; every step
is on the call's record and in the audit trail."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from ntpd_ivr.stack.devstack import DevStack
from ntpd_ivr.stack.sipp import Taker
from ntpd_ivr.transfer.model import reference_of
from ntpd_ivr.transfer.tables import TransferIn, TransferOut
from tests.security.rights_fixtures import audit_since, desk, last_audit_id, new_user, rows
from tests.transfer_fixtures import OTHER_TOKEN, TOKEN

from .conftest import Controller, Takers, call_rows, caller, record
from .test_config_reload import config_reload
from .test_dispatch import caller_with_a_taker, channel_of, long_takers, members_until

pytestmark = pytest.mark.e2e

__all__ = ["long_takers"]  # a fixture of tests/e2e/test_dispatch.py, used here
ENDPOINTS = ("taker-1", "taker-2")
INCIDENT = {"region": "palembang", "category": "fire", "kecamatan": "Ilir Barat I",
            "description": "Rumah terbakar di perbatasan", "severity": "high"}


def neighbours(transfer_port: int) -> str:
    return f"""
[regions.palembang.neighbours.banyuasin]
name = "Banyuasin Siaga 112"
level = "kabupaten"
trunk = "center-banyuasin"
match = ["127.0.0.52"]
contact = "sip:127.0.0.52:5060"
eido_url = "http://127.0.0.1:{transfer_port}/eido/transfers"
token_file = "transfer-out-secrets/banyuasin.token"

[regions.palembang.neighbours.ogan-ilir]
name = "Ogan Ilir Siaga 112"
trunk = "center-ogan-ilir"
match = ["127.0.0.53"]
contact = "sip:127.0.0.53:5060"
eido_url = "http://127.0.0.1:9/eido/transfers"
token_file = "transfer-out-secrets/ogan-ilir.token"

[regions.palembang.neighbours.muara-enim]
name = "Muara Enim Siaga 112"
trunk = "center-muara-enim"
match = ["127.0.0.54"]
eido_url = "http://127.0.0.1:9/eido/transfers"
token_file = "transfer-out-secrets/ogan-ilir.token"
"""
NEIGHBOUR_IP, NEIGHBOUR_PORT = "127.0.0.52", 5060  # banyuasin's contact
STEPS = ("transfer.eido-sent", "transfer.ringing", "transfer.answered", "transfer.accepted",
         "transfer.completed")


@pytest.fixture(scope="module")
def with_neighbours(stack: DevStack, controller: Controller) -> Iterator[None]:
    """Two neighbours of palembang in the stack's routing config, the controller restarted
    to read them; put back afterwards."""
    original = stack.routing_file.read_text()
    secrets = stack.routing_file.parent / "transfer-out-secrets"
    secrets.mkdir(exist_ok=True)
    for name, token in (("banyuasin.token", TOKEN), ("ogan-ilir.token", OTHER_TOKEN)):
        (secrets / name).write_text(token + "\n")
        os.chmod(secrets / name, 0o600)
    stack.routing_file.write_text(original + neighbours(stack.layout.transfer_port))
    reload = config_reload(stack)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    controller.stop()
    controller.start()
    yield
    stack.routing_file.write_text(original)
    assert config_reload(stack).returncode == 0


class Transferring:
    """A live caller with a call-taker, its incident saved, that call-taker's desk."""

    def __init__(self, stack: DevStack, number: str, uniqueid: str, user: str,
                 incident: dict[str, Any]) -> None:
        self.stack, self.number, self.uniqueid = stack, number, uniqueid
        self.user, self.incident = user, incident
        self.path = f"/api/incidents/{incident['id']}/transfers"


async def saved_incident(stack: DevStack, users: dict[str, str], number: str, uniqueid: str
                         ) -> Transferring:
    (answered,) = [r["answered_by"] for r in await call_rows(stack, [number])]
    async with desk(stack, users[answered]) as ct:
        status, incident = await ct.post("/api/incidents", {**INCIDENT, "call": uniqueid})
        assert status == 201, incident
    return Transferring(stack, number, uniqueid, users[answered], incident)


async def states(socket: Any, reference: str, until: str, within: float) -> list[dict[str, Any]]:
    """The desk's `transfer.state` events for this transfer, until `until` (or failed)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {until} within {within} s: {seen}"
        message = json.loads(await socket.receive_str(timeout=left))
        if message.get("kind") == "transfer.state" and message["data"]["transfer"] == reference:
            seen.append(message["data"])
            if message["data"]["state"] in (until, "failed"):
                return seen


def neighbour_stand_in(digit: str) -> Taker:
    """The neighbour center's trunk at its contact: answers, presses `digit` after 1.5 s."""
    return Taker(NEIGHBOUR_IP, NEIGHBOUR_PORT, talk_ms=1500, scenario="agency-accept.xml",
                 keys={"digit": digit}, trace_messages=True, wait_qualified=0)


async def transfer_to_banyuasin(ct: Any, socket: Any, live: Transferring, until: str
                                ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    status, sent = await ct.post(live.path, {"neighbour": "banyuasin", "call": live.uniqueid})
    assert status == 202, sent
    assert (sent["transfer"], sent["state"]) == (sent["reference"], "ringing")
    return sent, await states(socket, sent["reference"], until, 30)


async def test_a_refusal_then_key_1_and_the_caller_stays_with_the_other_center(
        stack: DevStack, with_neighbours: None, running_controller: Controller,
        long_takers: Takers) -> None:
    # The outgoing leg's AOR (contact) as Asterisk 22 loaded it from pjsip-neighbours.conf.
    assert stack.asterisk is not None
    aor = stack.asterisk.cli("pjsip show aor center-banyuasin")
    assert "sip:127.0.0.52:5060" in aor, aor
    users = {endpoint: new_user(stack, "to", sip_endpoint=endpoint) for endpoint in ENDPOINTS}
    refusing = neighbour_stand_in("2")
    number = caller()
    before = await last_audit_id(stack)
    call, uniqueid = await caller_with_a_taker(stack, number, hold_ms=22000)
    accepting: Taker | None = None
    try:
        live = await saved_incident(stack, users, number, uniqueid)
        bridged = await asyncio.to_thread(channel_of, stack, uniqueid)
        assert bridged is not None and bridged["bridge"], bridged
        async with desk(stack, live.user) as ct, ct.http.ws_connect(f"{ct.base}/ws") as socket:
            await socket.send_str(json.dumps({"id": 1, "type": "subscribe",
                                              "topic": "workspace"}))
            assert json.loads(await socket.receive_str(timeout=5))["success"]
            # No contact: refused before anything is sent; a dark center: its EIDO fails.
            status, refused = await ct.post(live.path, {"neighbour": "muara-enim",
                                                        "call": uniqueid})
            assert (status, refused["error"], refused["code"]) == (
                409, "transfer-refused", "no-contact"), refused
            assert refused["text"] == "pusat itu tidak punya alamat panggilan"
            status, failed = await ct.post(live.path, {"neighbour": "ogan-ilir",
                                                       "call": uniqueid})
            assert (status, failed["error"], failed["code"]) == (
                502, "transfer-failed", "unreachable"), failed
            assert failed["text"] == "pusat lain tidak dapat dihubungi"  # id: the default
            assert failed["reason"].startswith("Ogan Ilir Siaga 112: unreachable")
            # Banyuasin presses 2: told while the caller is on the line, never moved.
            first, seen = await transfer_to_banyuasin(ct, socket, live, "accepted")
            assert [(s["state"], s["reason"]) for s in seen] == [
                ("ringing", None), ("answered", None), ("failed", "refused")], seen
            after = await asyncio.to_thread(channel_of, stack, uniqueid)
            assert after is not None and after["bridge"] == bridged["bridge"], (bridged, after)
            refused_result = await asyncio.to_thread(refusing.wait, 10)
            assert refused_result.ok, refused_result.output[-3000:]  # released after its 2
            # Again; Banyuasin presses 1: caller, call-taker and Banyuasin in the conference.
            accepting = neighbour_stand_in("1")
            sent, seen = await transfer_to_banyuasin(ct, socket, live, "accepted")
            assert [s["state"] for s in seen] == ["ringing", "answered", "accepted"], seen
            assert sent["name"] == "Banyuasin Siaga 112"
            assert sent["url"].endswith(f"/eido/transfers/{sent['reference']}")
            assert reference_of(sent["call_info"]) == sent["reference"]
            room = f"t{sent['reference']}"
            members = await members_until(stack, room, 3, 8)
            assert {m.rpartition("-")[0].removeprefix("PJSIP/") for m in members} - {
                "taker-1", "taker-2"} == {"operator-local", "center-banyuasin"}, members
            # A reloaded desk reads the transfer in progress (memory, or transfers_out).
            async with ct.http.get(f"{ct.base}/api/transfers",
                                   params={"call": uniqueid}) as reply:
                assert reply.status == 200, await reply.text()
                shown = (await reply.json())["transfer"]
            assert (shown["transfer"], shown["state"], shown["incident_id"]) == (
                sent["reference"], "accepted", live.incident["id"]), shown
            # The call-taker hands over: their leg leaves, the caller stays with Banyuasin.
            status, handed = await ct.post(f"{live.path}/{sent['reference']}/hand-over",
                                           {"call": uniqueid})
            assert (status, handed["state"]) == (202, "accepted"), handed
            seen = await states(socket, sent["reference"], "completed", 10)
            assert seen[-1]["state"] == "completed", seen
        left = await members_until(stack, room, 2, 5)
        assert {m.rpartition("-")[0].removeprefix("PJSIP/") for m in left} == {
            "operator-local", "center-banyuasin"}, left
    finally:
        result = await call
        refusing.stop()
        accepted_result = (await asyncio.to_thread(accepting.wait, 20)
                           if accepting is not None else None)
        if accepting is not None:
            accepting.stop()
    assert result.ok, result.output[-2000:]
    # Released when the caller hung up; its INVITE carried the Call-Info and the caller.
    assert accepted_result is not None and accepted_result.ok, accepted_result
    messages = accepted_result.output
    invite = messages[messages.index("INVITE sip:"):]
    assert f"Call-Info: {sent['call_info']}" in invite, invite[:3000]
    sender = re.search(r"^From: *(.*)$", invite, re.M)
    assert sender is not None and f"<sip:+62{number[1:]}@" in sender.group(1), invite[:3000]
    # The neighbour (this stack's listener) kept our EIDO, with our call's id in it.
    [kept] = await rows(stack, select(TransferIn.__table__).where(
        TransferIn.reference == sent["reference"]))
    assert kept["neighbour"] == "banyuasin"
    assert kept["remote_call_id"].startswith(f"urn:emergency:uid:callid:{uniqueid}:")
    assert kept["form"]["description"].startswith("Rumah terbakar")
    # The transfer's own row (migration 0024), ended, with the incident and call-taker.
    [out] = await rows(stack, select(TransferOut.__table__).where(
        TransferOut.reference == sent["reference"]))
    assert (out["state"], out["incident_id"], out["actor"], out["call_uniqueid"],
            out["neighbour"]) == ("completed", live.incident["id"], live.user, uniqueid,
                                  "banyuasin"), out
    # Every step on the call's record, and in the audit trail on our incident.
    _, steps = await record(stack, number, kinds=frozenset(STEPS))
    done = [(s["kind"], s["detail"].get("reason")) for s in steps
            if s["kind"].startswith("transfer.")]
    refusal = [("transfer.eido-sent", None), ("transfer.ringing", None),
               ("transfer.answered", None), ("transfer.failed", "refused")]
    expected = [("transfer.failed", "no-contact"), ("transfer.failed", "unreachable"),
                *refusal, *((kind, None) for kind in STEPS)]
    assert done == expected, done
    by_kind = {s["kind"]: s["detail"] for s in steps if s["kind"] in STEPS
               and s["detail"]["reference"] == sent["reference"]}
    assert set(by_kind) == set(STEPS)
    assert by_kind["transfer.accepted"]["conference"] == f"ntpd-dispatch-{room}"
    assert first["reference"] != sent["reference"]
    entries = await audit_since(stack, before, subject_type="incident",
                                subject_id=str(live.incident["id"]))
    transfer_entries = [(e["action"], e["detail"].get("reason"))
                        for e in entries if e["action"].startswith("transfer.")]
    assert transfer_entries == expected
    assert {e["actor"] for e in entries if e["action"].startswith("transfer.")} == {live.user}
