"""FastAGI trust (issue 19, item 2), against the real stack: a forged FastAGI client plays
Asterisk to the running controller. It must not write call records from an address the
controller does not trust or without the FastAGI secret; it must not change a real call's
caller number; a call it invents must end `unconfirmed`, not stay "in progress"."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time

import pytest

from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import CONFIRM_SECONDS, OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import place_call
from tests.e2e.conftest import record
from tests.stack_fixtures import Controller, Takers

from .agi_ami_fixtures import forge_session, forged_uniqueid, metric, rows_by_uniqueid

pytestmark = pytest.mark.e2e

# How long a barrier session's row may take (generous: a loaded machine).
BARRIER_SECONDS = CONFIRM_SECONDS + 30


def _number() -> str:
    return "0813" + "".join(random.choices("0123456789", k=8))


def _secret(stack: DevStack) -> str:
    return load_settings(stack.layout.settings_file).agi.secret


async def _barrier(stack: DevStack, *, closed: bool) -> None:
    """An ordering barrier for "nothing was written": a session the server accepts, then
    its row. The record keeper applies records in the order they came, so what an earlier
    session wrote is in PostgreSQL once this row is. With `closed`, wait until this
    session is closed as unconfirmed at its bound: an earlier session's bound (the same
    length, started before) has then passed too, and its close is in."""
    uniqueid = forged_uniqueid()
    await forge_session(stack, uniqueid=uniqueid, caller=_number(), secret=_secret(stack))
    deadline = time.monotonic() + BARRIER_SECONDS
    while True:
        rows = await rows_by_uniqueid(stack, [uniqueid])
        if rows and (not closed or rows[0]["disposition"] == "unconfirmed"):
            return
        assert time.monotonic() < deadline, f"the barrier session's row: {rows}"
        await asyncio.sleep(0.3)


async def test_a_client_from_an_address_not_allowed_is_refused_and_writes_nothing(
        stack: DevStack, running_controller: Controller) -> None:
    uniqueid = forged_uniqueid()
    before = metric(stack, "ntpd_fastagi_refused_total", 'reason="address"')
    # Even with the right secret: the address decides first.
    seen = await forge_session(stack, uniqueid=uniqueid, caller=_number(),
                               source_ip="127.0.0.66", secret=_secret(stack))
    await _barrier(stack, closed=False)
    assert seen.refused_at_once, f"the server talked to 127.0.0.66: {seen.commands}"
    assert await rows_by_uniqueid(stack, [uniqueid]) == []
    assert metric(stack, "ntpd_fastagi_refused_total", 'reason="address"') == before + 1
    assert "FastAGI refused 127.0.0.66" in running_controller.log_tail(200)
    # The server is still serving (the refusal blocked nothing).
    assert running_controller.health()[1]["fastagi"]["serving"] is True


async def test_a_client_without_the_secret_is_refused_and_writes_nothing(
        stack: DevStack, running_controller: Controller) -> None:
    uniqueid = forged_uniqueid()
    before = metric(stack, "ntpd_fastagi_refused_total", 'reason="secret"')
    for offered in (None, "not-the-secret"):
        seen = await forge_session(stack, uniqueid=uniqueid, caller=_number(),
                                   secret=offered)
        # Asked for the secret, then nothing more: no menu, no variable set.
        assert seen.commands == ["GET VARIABLE NTPD_AGI_SECRET"], seen.commands
    await _barrier(stack, closed=False)
    assert await rows_by_uniqueid(stack, [uniqueid]) == []
    assert metric(stack, "ntpd_fastagi_refused_total", 'reason="secret"') == before + 2
    log = running_controller.log_tail(200)
    assert "did not carry the FastAGI secret" in log
    assert _secret(stack) not in running_controller.log_path.read_text(errors="replace")


async def test_an_invented_call_ends_unconfirmed_within_the_bound(
        stack: DevStack, running_controller: Controller) -> None:
    """Even with the secret (a leaked one, an insider): a call that Asterisk never had is
    closed as `unconfirmed`, never left in progress, and carries no caller number."""
    uniqueid = forged_uniqueid()
    started = time.monotonic()
    seen = await forge_session(stack, uniqueid=uniqueid, caller=_number(),
                               secret=_secret(stack))
    assert "GET DATA" in " ".join(seen.commands), seen.commands  # it went through the IVR
    deadline = started + CONFIRM_SECONDS + 5
    while True:
        rows = await rows_by_uniqueid(stack, [uniqueid])
        if rows and rows[0]["disposition"] is not None:
            break
        assert time.monotonic() < deadline, f"not closed within the bound: {rows}"
        await asyncio.sleep(0.3)
    row = rows[0]
    assert row["disposition"] == "unconfirmed"
    assert row["ended_at"] is not None
    assert row["caller_number"] is None  # AMI never named a caller: nobody to call back
    assert row["trunk"] is None


async def _real_call(stack: DevStack, number: str) -> dict[str, object]:
    result = await asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1",
        caller=number, digit_delay_ms=1200, timeout=60)
    assert result.ok, result.output[-3000:]
    row, _ = await record(stack, number)
    return row


async def test_a_forged_session_cannot_change_a_real_calls_caller(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number, other = _number(), _number()
    real = await _real_call(stack, number)
    uniqueid = str(real["uniqueid"])
    assert real["caller_number"] == canonical_caller(number)

    # A second session for the call, on the controller that ran its first.
    await forge_session(stack, uniqueid=uniqueid, caller=other, secret=_secret(stack))
    # And after a restart, when the controller has forgotten which calls had a session;
    # left past the bound, so that its "unconfirmed" close would land too.
    running_controller.stop()
    running_controller.start()
    await forge_session(stack, uniqueid=uniqueid, caller=other, secret=_secret(stack))
    await _barrier(stack, closed=True)

    [row] = await rows_by_uniqueid(stack, [uniqueid])
    assert row["caller_number"] == canonical_caller(number)
    assert row["trunk"] == real["trunk"] == "operator-local"
    assert row["disposition"] == real["disposition"] == "answered"
    assert row["ended_at"] == real["ended_at"]


def _cut_ami(stack: DevStack) -> None:
    """Kill the controller's AMI connection, as a network fault would (root only)."""
    subprocess.run(["ss", "-K", "-tn", f"dst 127.0.0.1 and dport = :{stack.layout.ami_port}"],
                   check=True, capture_output=True, timeout=5)


async def test_a_real_call_while_ami_is_down_is_kept_and_confirmed_later(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    """A guard (it held before): the trust rules must not cost a real call its record. AMI
    is cut from before the call until after it ends: the IVR's record is kept, and after
    the login the CDR names the caller; the call is never closed as unconfirmed."""
    number = _number()
    call = asyncio.create_task(asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1",
        caller=number, digit_delay_ms=1200, timeout=60))
    try:
        while not call.done():
            await asyncio.to_thread(_cut_ami, stack)
            await asyncio.sleep(0.1)
        result = await call
        assert result.ok, result.output[-3000:]
    finally:
        await asyncio.gather(call, return_exceptions=True)
    row, _ = await record(stack, number, wait_s=30)
    # A call the resync picked up between two cuts ends without a disposition, which the
    # CDR settles a moment later (calls/reconcile.py, settle).
    deadline = time.monotonic() + 30
    while row["disposition"] is None and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        [row] = await rows_by_uniqueid(stack, [str(row["uniqueid"])])
    assert row["disposition"] == "answered", row
    await _barrier(stack, closed=True)  # past the bound that would have closed it
    [again] = await rows_by_uniqueid(stack, [str(row["uniqueid"])])
    assert again["caller_number"] == canonical_caller(number)
    assert again["disposition"] == "answered", again
