"""A transfer between two 112 centers on one machine (issue 23 item 6): center A and center
B of tests/two_centers.py, each with its own Asterisk 22, controller and PostgreSQL on its
own loopback address, each naming the other as a neighbour. One pair of stacks for the
whole module.

- B's side of a transfer, proven without A's transfer code: a SIPp caller on A is answered
  by A's call-taker stand-in, whose desk user saves the incident; A's EIDO export of it
  (`/api/v1`) goes to B's transfer listener with A's own client (`post_eido`, A's neighbour
  config), then A's Asterisk calls B's trunk the way the transfer will (AMI Originate to
  `PJSIP/112@center-b` with the `Call-Info` header and the caller's CallerID). B knows the
  call by A's address, skips its IVR, queues it at the front, its call-taker stand-in
  answers, and B's desk in Chromium shows what A's call-taker typed; B's records link A's
  call.
- A refusal (A's copy of the pair's token is stale: B answers 401) and a center that does
  not answer (B's controller stopped: A gives up after its 5 s): 502 with the reason on
  A's desk, the steps on A's call, and the caller stays with A's call-taker.
- A malformed EIDO posted to B's listener: a 4xx with a clear reason, nothing kept.
- B's call-taker refusing the attended transfer with key 2: A's call fails the transfer
  with `refused`, its reloaded desk reads why, the caller stays with A's call-taker.
- The whole transfer from A's desk (`POST /api/incidents/{id}/transfers`, the attended
  transfer of the live call, B's call-taker pressing 1, A's call-taker dropping)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import func, select

from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import TAKER_IP
from ntpd_ivr.stack.sipp import SippResult, Taker
from ntpd_ivr.transfer.send import Posted, post_eido
from ntpd_ivr.transfer.tables import TransferIn
from ntpd_ivr.watchdog import EXIT_LOOP_STALLED
from tests.browser.conftest import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    STEP_MS,
    VIEWPORT,
    desk_login,
    only_this_taker_rings,
)
from tests.security.rights_fixtures import Desk, desk
from tests.stack_fixtures import Takers
from tests.transfer_fixtures import eido_bytes
from tests.two_centers import DESK_PASSWORD, DESKS, REGION, Center, two_centers, write_token
from tests.waiting import standing_by

from .conftest import call_rows, call_steps, caller, record
from .test_api_metrics import cli
from .test_dispatch import caller_with_a_taker
from .test_prank import db_rows as rows
from .test_transfer_in import post

pytestmark = pytest.mark.e2e

INCIDENT = {"region": REGION, "category": "fire", "kecamatan": "Kemuning", "desa": "Pahlawan",
            "address": "Jl. Kapten A. Rivai 20", "severity": "high",
            "description": "Rumah terbakar di perbatasan, dua orang di lantai dua"}
DESK_OF = {endpoint: user for user, endpoint in DESKS.items()}
B_DESK = "desk-1"  # B's desk user; B's queue rings only their phone (taker-1)


@pytest.fixture(scope="module")
def centers() -> Iterator[tuple[Center, Center]]:
    with two_centers(f"xfer-{os.getpid()}") as pair:
        yield pair


@pytest.fixture
def a_takers(centers: tuple[Center, Center]) -> Iterator[Takers]:
    """A's call-takers' phones, staying on the call until the caller (or a transfer)
    ends it."""
    group = Takers(centers[0].stack.layout.taker_ports, talk_ms=60_000)
    standing_by(*group.by_name.values())
    yield group
    group.stop()


async def transfers_in(center: Center) -> int:
    (found,) = await rows(center.stack, select(func.count().label("n")).select_from(
        TransferIn.__table__))
    return int(found["n"])


async def a_call_with_its_incident(a: Center, number: str, hold_ms: int
                                   ) -> tuple[asyncio.Task[SippResult], str, str, int]:
    """A SIPp caller on A answered by a call-taker stand-in, whose desk user saves the
    incident on the call: (the call, its uniqueid, the desk user, the incident id)."""
    call, uniqueid = await caller_with_a_taker(a.stack, number, hold_ms=hold_ms)
    (answered,) = [r["answered_by"] for r in await call_rows(a.stack, [number])]
    user = DESK_OF[answered]
    async with desk(a.stack, user, DESK_PASSWORD) as ct:
        status, incident = await ct.post("/api/incidents", {**INCIDENT, "call": uniqueid})
    assert status == 201, incident
    return call, uniqueid, user, int(incident["id"])


async def a_exports_and_sends(a: Center, incident_id: int) -> Posted:
    """A's EIDO of the incident (its /api/v1 export, a call-taker's token) POSTed to B by
    A's own client with A's neighbour config: the transfer's first step without A's desk."""
    token = (await asyncio.to_thread(cli, a.stack, "token", "create", "--role", "calltaker",
                                     f"two-centers-{incident_id}")).strip().splitlines()[-1]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        async with http.get(f"{a.web}/api/v1/incidents/{incident_id}/eido",
                            headers={"Authorization": f"Bearer {token}"}) as reply:
            assert reply.status == 200, await reply.text()
            document = await reply.json()
        neighbour = load_routing_config(a.stack.routing_file).neighbours[REGION]["center-b"]
        return await post_eido(http, neighbour, document)


async def a_calls_bs_trunk(a: Center, call_info: str, caller_id: str) -> None:
    """What A's transfer will do once the EIDO is kept: A's Asterisk calls B on B's trunk
    (the AOR of its contact) with the EIDO's reference in Call-Info and the caller's
    number, over A's controller's own AMI account."""
    client = AmiClient(load_settings(a.stack.layout.settings_file).ami)
    await client.start()
    try:
        assert await client.wait_connected(10), client.last_error
        await client.action({
            "Action": "Originate", "Channel": "PJSIP/112@center-b", "Application": "Wait",
            "Data": "30", "CallerID": f'"{caller_id}" <{caller_id}>', "Timeout": "15000",
            "Async": "true", "Variable": f"PJSIP_HEADER(add,Call-Info)={call_info}"})
    finally:
        await client.stop()


def b_desk_shows(b: Center, ready: threading.Event, expected: Mapping[str, str],
                 shot: str) -> None:
    """B's call-taker in Debian's Chromium (tests/browser conventions): logged in and live
    (then `ready`), until the transferred call pops with the incident A typed. Sync
    Playwright, so run in a thread of its own (asyncio.to_thread)."""
    errors: list[str] = []
    with sync_playwright() as playwright, \
            tempfile.TemporaryDirectory(prefix="ntpd-ivr-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT, locale="id-ID")  # type: ignore[arg-type]
        try:
            context.set_default_timeout(STEP_MS)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            desk_login(page, b.web, B_DESK, DESK_PASSWORD)
            ready.set()
            note = page.locator("#inc-transfer")
            expect(note).to_be_visible(timeout=40_000)
            expect(note).to_contain_text(f"Dialihkan dari {expected['center']}")
            expect(note).to_contain_text(expected["remote_call_id"])
            for field in ("category", "severity", "kecamatan", "desa", "address",
                          "description"):
                expect(page.locator(f"#inc-{field}")).to_have_value(expected[field])
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{shot}.png"))
        finally:
            context.close()
    assert errors == [], errors


async def b_desk_live(b: Center, expected: Mapping[str, str], shot: str
                      ) -> asyncio.Task[None]:
    """B's desk in Chromium, logged in and live; the task ends once it showed the pop."""
    ready = threading.Event()
    shown = asyncio.create_task(asyncio.to_thread(b_desk_shows, b, ready, expected, shot))
    deadline = time.monotonic() + 40
    while not ready.is_set():
        if shown.done():
            await shown  # its failure, said
        assert time.monotonic() < deadline, "B's desk not live in Chromium within 40 s"
        await asyncio.sleep(0.1)
    return shown


def expected_on_b(a: Center, a_uniqueid: str) -> dict[str, str]:
    # The desk names the first center as B's routing config does for the neighbour whose
    # token and trunk A proved, not as A's EIDO calls itself (issuingElementIdentification:
    # A's domain, its address here).
    return {"center": a.name, "remote_call_id": f"urn:emergency:uid:callid:{a_uniqueid}:",
            **{k: INCIDENT[k] for k in ("category", "severity", "kecamatan", "desa",
                                         "address", "description")}}


async def b_linked(b: Center, number: str, a_uniqueid: str, reference: str) -> dict[str, Any]:
    """B's record of the transferred caller, which links A's call; B's transfers_in row of
    the reference, taken by that call. B's call row."""
    row, steps = await record(b.stack, number, kinds=frozenset({"transfer.received"}),
                              wait_s=30)
    kinds = [s["kind"] for s in steps]
    assert "ivr.prompt" not in kinds and "ivr.input" not in kinds, kinds  # no menu on B
    assert (row["trunk"], row["route_reason"], row["priority"], row["category"],
            row["answered_by"]) == ("center-a", "transfer", 101, "fire", "taker-1"), row
    [received] = [s["detail"] for s in steps if s["kind"] == "transfer.received"]
    assert (received["neighbour"], received["eido"], received["reference"]) == (
        "center-a", "linked", reference), received
    assert received["remote_call_id"].startswith(f"urn:emergency:uid:callid:{a_uniqueid}:")
    [kept] = await rows(b.stack, select(TransferIn.__table__).where(
        TransferIn.reference == reference))
    assert (kept["neighbour"], kept["call_uniqueid"]) == ("center-a", row["uniqueid"]), kept
    assert kept["remote_call_id"] == received["remote_call_id"]
    assert kept["form"]["description"] == INCIDENT["description"]
    return row


async def test_b_takes_as_eido_and_the_call_on_as_trunk_pops_on_bs_desk(
        centers: tuple[Center, Center], a_takers: Takers) -> None:
    a, b = centers
    b_phone = Taker(TAKER_IP, b.stack.layout.taker_ports[0], talk_ms=6000)
    try:
        standing_by(b_phone)
        with only_this_taker_rings(b.stack, "taker-1"):
            number = caller()
            call, uniqueid, _, incident_id = await a_call_with_its_incident(a, number, 9000)
            try:
                shown = await b_desk_live(b, expected_on_b(a, uniqueid),
                                          "two-centers--b-desk-transferred")
                posted = await a_exports_and_sends(a, incident_id)
                (a_row,) = await call_rows(a.stack, [number])
                await a_calls_bs_trunk(a, posted.call_info, a_row["caller_number"])
                await shown
            finally:
                result = await call
            assert result.ok, result.output[-3000:]
            assert b_phone.wait(30).ok  # B's call-taker took the call and hung up
    finally:
        b_phone.stop()
    await b_linked(b, number, uniqueid, posted.reference)


async def test_a_malformed_eido_is_refused_by_b_with_its_reason_and_nothing_kept(
        centers: tuple[Center, Center]) -> None:
    a, b = centers
    token = a.token_file.read_text().strip()  # the pair's: B knows it is A
    before = await transfers_in(b)
    document = json.loads(eido_bytes())
    document["callComponent"][0]["direction"] = "sideways"
    status, body = await post(b.eido_url, json.dumps(document).encode(), token)
    assert status == 400 and "/callComponent/0/direction" in body["reason"], body
    status, body = await post(b.eido_url, b"{not json", token)
    assert status == 400 and "not JSON" in body["reason"], body
    status, body = await post(b.eido_url, b" " * (257 * 1024), token)
    assert status == 413, body
    assert await transfers_in(b) == before


async def test_a_refusal_and_a_silent_center_leave_the_caller_with_as_call_taker(
        centers: tuple[Center, Center], a_takers: Takers) -> None:
    a, b = centers
    assert b.controller.process is not None
    before = await transfers_in(b)
    number = caller()
    call, uniqueid, user, incident_id = await a_call_with_its_incident(a, number, 12_000)
    try:
        async with desk(a.stack, user, DESK_PASSWORD) as ct:
            path = f"/api/incidents/{incident_id}/transfers"
            # A's copy of the pair's token is stale: B refuses it, and says so.
            pair_token = a.token_file.read_text().strip()
            write_token(a.token_file, secrets.token_urlsafe(32))
            try:
                status, refused = await ct.post(path, {"neighbour": "center-b",
                                                       "call": uniqueid})
            finally:
                write_token(a.token_file, pair_token)
            assert (status, refused["error"], refused["code"]) == (
                502, "transfer-failed", "unauthorized"), refused
            assert refused["text"] == "pusat lain menolak token kita"
            assert refused["reason"].startswith(f"{b.name}: unauthorized"), refused
            assert "no valid neighbour token" in refused["reason"], refused  # B's reason
            assert await transfers_in(b) == before
            # B's controller hangs (stopped, its listener's socket still open): A waits
            # its 5 s, no more, and tells the call-taker.
            os.kill(b.controller.process.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                status, silent = await ct.post(path, {"neighbour": "center-b",
                                                      "call": uniqueid})
                waited = time.monotonic() - started
            finally:
                os.kill(b.controller.process.pid, signal.SIGCONT)
                started_again_if_stalled(b)
            assert (status, silent["code"], silent["text"]) == (
                502, "timeout", "pusat lain tidak menjawab tepat waktu"), silent
            assert 5 <= waited < 10, waited
    finally:
        result = await call
    # The caller was never dropped: they stayed with A's call-taker and hung up themselves.
    assert result.ok, result.output[-3000:]
    row, steps = await record(a.stack, number, kinds=frozenset({"transfer.failed"}))
    assert row["answered_by"] == DESKS[user]
    failed = [s["detail"] for s in steps if s["kind"] == "transfer.failed"]
    assert [(f["neighbour"], f["reason"]) for f in failed] == [
        ("center-b", "unauthorized"), ("center-b", "timeout")], failed
    assert b.controller.health()[0] == 200  # B is back


def started_again_if_stalled(center: Center) -> None:
    """A controller whose loop stood still over its loop_stall_exit_seconds (5 s) is ended
    by its own watchdog (ntpd_ivr/watchdog.py) once it runs again, for its service manager
    to start it again: so does this. One that survived the pause is left as it is."""
    assert center.controller.process is not None
    try:
        code = center.controller.process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        return
    assert code == EXIT_LOOP_STALLED, center.controller.log_tail()
    center.controller.start(90.0)


async def transfer_to_b(ct: Desk, incident_id: int, uniqueid: str) -> dict[str, Any]:
    """A's call-taker transfers the call to center B: the route answers 202 ringing."""
    status, started = await ct.post(f"/api/incidents/{incident_id}/transfers",
                                    {"neighbour": "center-b", "call": uniqueid})
    assert (status, started["state"]) == (202, "ringing"), started
    return started


@contextlib.contextmanager
def b_taker_pressing(b: Center, digit: str) -> Iterator[Taker]:
    """B's call-taker stand-in on taker-1, the one phone B's queues ring: it answers,
    hears the announcement for 1.5 s and presses `digit`, then stays until released."""
    phone = Taker(TAKER_IP, b.stack.layout.taker_ports[0], talk_ms=1500,
                  scenario="agency-accept.xml", keys={"digit": digit})
    try:
        standing_by(phone)
        with only_this_taker_rings(b.stack, "taker-1"):
            yield phone
    finally:
        phone.stop()


async def test_b_refusing_with_a_key_other_than_1_leaves_the_caller_with_as_call_taker(
        centers: tuple[Center, Center], a_takers: Takers) -> None:
    """The attended transfer refused on the call itself: B's call-taker answers through
    B's queue, hears the announcement and presses 2. A's neighbour leg is released, the
    transfer fails with `refused` (the step on A's call, and what A's reloaded desk reads),
    nobody was moved: the caller is still talking to A's call-taker until they hang up."""
    a, b = centers
    with b_taker_pressing(b, "2") as b_phone:
        number = caller()
        # Long enough for the refusal (about 5 s after the POST), no longer.
        call, uniqueid, user, incident_id = await a_call_with_its_incident(
            a, number, 15_000)
        try:
            async with desk(a.stack, user, DESK_PASSWORD) as ct:
                started = await transfer_to_b(ct, incident_id, uniqueid)
                steps = await steps_until(a, uniqueid, {"transfer.failed"})
                async with ct.http.get(f"{ct.base}/api/transfers",
                                       params={"call": uniqueid}) as reply:
                    assert reply.status == 200, await reply.text()
                    shown = (await reply.json())["transfer"]
            assert (shown["transfer"], shown["state"], shown["reason"]) == (
                started["transfer"], "failed", "refused"), shown
            assert not call.done()  # nobody moved: still with A's call-taker
        finally:
            result = await call
        assert result.ok, result.output[-3000:]  # the caller hung up, never dropped
        assert b_phone.wait(20).ok  # B's call-taker pressed 2 and was released
    kinds = [s["kind"] for s in steps]
    assert "transfer.answered" in kinds and "transfer.accepted" not in kinds, steps
    [failed] = [s["detail"] for s in steps if s["kind"] == "transfer.failed"]
    assert (failed["neighbour"], failed["reason"]) == ("center-b", "refused"), failed
    (row,) = await call_rows(a.stack, [number])
    assert row["answered_by"] == DESKS[user]  # the caller's call stayed A's call-taker's


async def test_a_caller_is_transferred_from_a_to_b_with_the_incident_a_typed(
        centers: tuple[Center, Center], a_takers: Takers) -> None:
    """The transfer itself, against xfer-call's contract: the POST answers 202 ringing
    after the EIDO step; A's Asterisk calls B's trunk with Call-Info and the caller's
    CallerID; B's call-taker answers through B's queue, hears the announcement and presses
    1; A's call-taker hands over and drops; the caller stays, talking to B. Steps on A's
    call: transfer.eido-sent, .ringing, .answered, .accepted, .completed."""
    a, b = centers
    with b_taker_pressing(b, "1") as b_phone:
        number = caller()
        call, uniqueid, user, incident_id = await a_call_with_its_incident(
            a, number, 30_000)
        try:
            shown = await b_desk_live(b, expected_on_b(a, uniqueid),
                                      "two-centers--b-desk-transfer")
            async with desk(a.stack, user, DESK_PASSWORD) as ct:
                started = await transfer_to_b(ct, incident_id, uniqueid)
                await steps_until(a, uniqueid, {"transfer.accepted"})
                # B's call-taker pressed 1: A's call-taker hands over and drops.
                status, handed = await ct.post(
                    f"/api/incidents/{incident_id}/transfers/{started['transfer']}/hand-over",
                    {"call": uniqueid})
                assert status == 202, handed
            steps = await steps_until(a, uniqueid, {
                "transfer.eido-sent", "transfer.ringing", "transfer.answered",
                "transfer.accepted", "transfer.completed"})
            assert not call.done()  # the caller is still on the line, with B
            await shown
        finally:
            result = await call
        assert result.ok, result.output[-3000:]  # the caller hung up, never dropped
        assert b_phone.wait(20).ok  # B's call-taker, released when the caller hung up
    assert "transfer.failed" not in {s["kind"] for s in steps}, steps
    [sent] = [s["detail"] for s in steps if s["kind"] == "transfer.eido-sent"]
    assert (sent["neighbour"], sent["reference"]) == ("center-b", started["transfer"]), sent
    b_row = await b_linked(b, number, uniqueid, sent["reference"])
    assert b_row["caller_number"] == (await call_rows(a.stack, [number]))[0]["caller_number"]


async def steps_until(center: Center, uniqueid: str, kinds: set[str], wait_s: float = 30.0
                      ) -> list[dict[str, Any]]:
    """The call's steps on `center` once all of `kinds` are there."""
    deadline = time.monotonic() + wait_s
    while True:
        steps = await call_steps(center.stack, uniqueid)
        if kinds <= {s["kind"] for s in steps}:
            return steps
        assert time.monotonic() < deadline, (
            f"{center.key}: {sorted(kinds - {s['kind'] for s in steps})} missing: {steps}")
        await asyncio.sleep(0.3)

