"""SIP identity on the single node (issue 19, item 1), attacked on the real stack: Asterisk
22, the controller, PostgreSQL, SIPp. Who a SIP request is from is proven by its source
address (operator trunks, which have no password) or by digest auth (call-takers); a From
user or a P-Asserted-Identity proves nothing, and a request that matches no endpoint is
refused and logged for fail2ban. The dialled number cannot reach the AGI() arguments.
A static contact where nothing listens is never rung, and a caller who vanishes without a
BYE does not stay in the center for ever."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import pytest

from ntpd_ivr.stack.devstack import OPERATOR_IP, SHORT_TIMERS_OPERATOR_IP, TAKER_IP, DevStack
from ntpd_ivr.stack.sipp import Taker, place_call
from tests.e2e.conftest import Row, call_rows
from tests.stack_fixtures import Controller, Takers

from .sip_fixtures import SipClient

pytestmark = pytest.mark.e2e

STRANGER_IP = "127.0.0.77"   # no operator, no call-taker uses it


def new_number() -> str:
    return "+62811" + "".join(random.choices("0123456789", k=7))


def asterisk_cli(stack: DevStack, command: str) -> str:
    assert stack.asterisk is not None
    return stack.asterisk.cli(command)


async def rows_when(stack: DevStack, numbers: list[str], done: Callable[[list[Row]], bool],
                    within_s: float) -> list[Row]:
    deadline = time.monotonic() + within_s
    while True:
        rows = await call_rows(stack, numbers)
        if done(rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.3)


@pytest.mark.parametrize("posing_as", ["operator-local", "operator-b", "taker-1"])
async def test_a_forged_invite_from_an_unknown_address_is_refused_and_recorded_nowhere(
        stack: DevStack, running_controller: Controller, posing_as: str) -> None:
    """Hole (issue 19): From operator-local + P-Asserted-Identity from 127.0.0.77 was
    answered 200 and recorded with trunk operator-local and the asserted number."""
    number = new_number()
    target = f"127.0.0.1:{stack.layout.sip_port}"
    uri = f"sip:112@{target}"
    with SipClient(STRANGER_IP, target) as attacker:
        attacker.invite(uri, from_uri=f"sip:{posing_as}@127.0.0.1",
                        extra=(f"P-Asserted-Identity: <sip:{number}@x>",
                               f"Remote-Party-ID: <sip:{number}@x>;party=calling"))
        final = attacker.final(timeout=5)
        if final is not None and final.status < 300:
            attacker.ack_and_bye(final, uri, from_uri=f"sip:{posing_as}@127.0.0.1")
    assert final is not None, "no answer at all"
    # The artificial endpoint's challenge, which no password answers: 401 (or a 403).
    assert final.status in (401, 403), final.text
    await asyncio.sleep(2)
    assert await call_rows(stack, [number]) == []
    # ... and a line fail2ban can read: the account it claimed and the source address.
    log = stack.security_log.read_text(errors="replace")
    refused = [line for line in log.splitlines() if f"/{STRANGER_IP}/" in line
               and ('SecurityEvent="InvalidAccountID"' in line
                    or 'SecurityEvent="ChallengeSent"' in line)]
    assert refused, log[-2000:]


def test_there_is_no_anonymous_endpoint_and_no_unauthenticated_username_match(
        stack: DevStack) -> None:
    """Guard: nothing catches what matches no endpoint, and the username identifier names
    only endpoints that authenticate."""
    assert "Unable to find object anonymous" in asterisk_cli(
        stack, "pjsip show endpoint anonymous")
    order = asterisk_cli(stack, "pjsip show settings")
    assert "anonymous" not in next(line for line in order.splitlines()
                                   if "endpoint_identifier_order" in line)
    for endpoint in ("operator-local", "operator-b", "agency-damkar-plg", "warning-trunk",
                     "callback-line"):
        shown = asterisk_cli(stack, f"pjsip show endpoint {endpoint}")
        identify_by = next(line for line in shown.splitlines() if " identify_by " in line)
        assert identify_by.split(":", 1)[1].strip() == "ip", (endpoint, identify_by)


async def test_the_dialled_number_cannot_rewrite_the_agi_arguments(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    """Hole (issue 19): an INVITE from operator-local's own address to
    sip:112,operator-b,,@... ran AGI(...,112,operator-b,,,operator-local,,) and was
    recorded with trunk = operator-b."""
    number = "08" + "".join(random.choices("0123456789", k=10))
    result = await asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0,
        dialed="112,operator-b,,", digit="1", caller=number, digit_delay_ms=800, timeout=60)
    assert result.ok, result.output[-3000:]
    rows = await rows_when(stack, [number], lambda r: bool(r) and bool(r[0]["ended_at"]), 15)
    assert rows, "no record of the call"
    assert (rows[0]["trunk"], rows[0]["dialed"]) == ("operator-local", "112"), rows[0]


async def test_an_unreachable_static_contact_is_never_rung(
        stack: DevStack, running_controller: Controller) -> None:
    """Hole (issue 19): `make call DIGIT=3` took 20 s: the queue rang taker-2's static
    stand-in contact, where nothing listens, for 15 s before trying taker-1. Only taker-1
    listens here; two calls in a row (rrmemory would give one of them to taker-2 first)
    each reach taker-1 at once."""
    def taker_2_contact() -> str:
        return next(line for line in asterisk_cli(stack, "pjsip show contacts").splitlines()
                    if "taker-2/" in line)

    # A stand-in an earlier test just stopped is found gone at the next qualify (1 s, 1 s
    # to answer).
    deadline = time.monotonic() + 5
    while "Unavail" not in taker_2_contact():
        assert time.monotonic() < deadline, taker_2_contact()
        await asyncio.sleep(0.2)
    taker = Taker(TAKER_IP, stack.layout.taker_ports[0], talk_ms=500, calls=2)
    try:
        rows: list[Row] = []
        for _ in range(2):
            number = "08" + "".join(random.choices("0123456789", k=10))
            result = await asyncio.to_thread(
                place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0,
                digit="3", caller=number, digit_delay_ms=500, timeout=60)
            assert result.ok, result.output[-3000:]
            found = await rows_when(stack, [number],
                                    lambda r: bool(r) and bool(r[0]["answered_at"]), 10)
            assert found and found[0]["answered_at"], found
            rows.append(found[0])
        assert taker.wait(timeout=10).ok
    finally:
        taker.stop()
    waits = [(r["answered_at"] - r["queued_at"]).total_seconds() for r in rows]
    assert [r["answered_by"] for r in rows] == ["taker-1", "taker-1"], rows
    # A ring of the dead contact would cost the queue's 15 s timeout.
    assert max(waits) < 3.0, waits


async def test_a_caller_who_vanishes_without_a_bye_is_cut_and_the_call_closed(
        stack: DevStack, running_controller: Controller) -> None:
    """Hole (issue 19): a SIPp caller that vanished (no BYE, no RTP, no answer to a
    refresh) stayed in the queue for ever. The test-only operator trunk at
    SHORT_TIMERS_OPERATOR_IP has the operator trunks' dead-dialog settings with a 4 s
    RTP timeout (pjsip-standins.conf); the real trunks' are minutes."""
    for endpoint in ("operator-local", "operator-b", "operator-short-timers"):
        shown = asterisk_cli(stack, f"pjsip show endpoint {endpoint}")
        settings = dict(line.split(":", 1) for line in shown.splitlines()
                        if line.startswith(" ") and ":" in line)
        settings = {k.strip(): v.strip() for k, v in settings.items()}
        assert settings["timers"] == "always", (endpoint, settings["timers"])
        assert 90 <= int(settings["timers_sess_expires"]) <= 1800, endpoint
        assert 0 < int(settings["rtp_timeout"]) <= 120, endpoint
        assert 0 < int(settings["rtp_timeout_hold"]) <= 600, endpoint
    number = "08" + "".join(random.choices("0123456789", k=10))
    started = time.monotonic()
    result = await asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", SHORT_TIMERS_OPERATOR_IP, 0,
        digit=None, caller=number, timeout=20, scenario="caller-vanish.xml")
    assert result.ok, result.output[-3000:]   # answered, ACKed, then gone
    rows = await rows_when(stack, [number], lambda r: bool(r) and bool(r[0]["ended_at"]), 30)
    took = time.monotonic() - started
    channels = asterisk_cli(stack, "core show channels concise")
    assert "operator-short-timers" not in channels, channels
    assert rows and rows[0]["ended_at"], rows
    assert rows[0]["trunk"] == "operator-short-timers", rows[0]
    assert took < 30, took
