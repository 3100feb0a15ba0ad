"""Call-takers with accounts of their own, on a real softphone (baresip): added with
`ntpd-ivr taker add` into a running Asterisk (no restart), registered with their own
password, answering a 112 call; a member whose phone is not registered is never rung."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ntpd_ivr.stack.baresip import Softphone
from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import place_call

from .conftest import Controller, call_rows, call_steps
from .test_first_call import new_caller

pytestmark = pytest.mark.e2e

MUBA_DID = "1120714"   # regions.muba.dids: its queue takers-muba has no stand-in


def taker_cli(stack: DevStack, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "ntpd_ivr", "taker", *args, "--config",
         str(stack.layout.settings_file)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def add_taker(stack: DevStack, name: str, region: str) -> str:
    out = taker_cli(stack, "add", name, "--region", region)
    assert "reloaded res_pjsip.so: Success" in out and "reloaded app_queue.so: Success" in out
    match = re.search(r"generated password \(shown once, stored nowhere\): (\S+)", out)
    assert match, out
    return match.group(1)


def endpoint_state(stack: DevStack, name: str) -> str:
    assert stack.asterisk is not None
    out = stack.asterisk.cli(f"pjsip show endpoint {name}")
    match = re.search(rf"Endpoint:\s+{name}(?:/\S*)?\s+(\S.*?)\s{{2,}}", out)
    return match.group(1) if match else out


def wait_for(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.3)


@pytest.fixture
def muba_takers(stack: DevStack) -> Iterator[dict[str, str]]:
    """Two call-takers in Musi Banyuasin's queue, removed again afterwards (the other
    tests expect that queue empty). budi is the first member: the queue (rrmemory) would
    ring him first if it rang phones that are not there."""
    passwords = {name: add_taker(stack, name, "muba") for name in ("budi", "citra")}
    yield passwords
    for name in passwords:
        taker_cli(stack, "remove", name)


async def test_a_registered_softphone_takes_the_call_the_unregistered_member_is_skipped(
        stack: DevStack, running_controller: Controller,
        muba_takers: dict[str, str]) -> None:
    assert stack.asterisk is not None
    listed = taker_cli(stack, "list")
    assert re.search(r"^citra\s+muba\s+takers-muba$", listed, re.M), listed
    queue = stack.asterisk.cli("queue show takers-muba")
    assert "citra (PJSIP/citra" in queue and "budi (PJSIP/budi" in queue, queue
    # Nobody registered yet: both members are unavailable, not rung.
    assert endpoint_state(stack, "budi") == "Unavailable"

    phone = Softphone("citra", muba_takers["citra"], f"127.0.0.1:{stack.layout.sip_port}")
    try:
        await asyncio.to_thread(wait_for, "citra registered and reachable",
                                lambda: endpoint_state(stack, "citra") == "Not in use", 15)
        caller = new_caller()
        placing = asyncio.create_task(asyncio.to_thread(
            place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0,
            dialed=MUBA_DID, digit="1", caller=caller, digit_delay_ms=800, timeout=60))
        deadline = time.monotonic() + 20
        while not (rows := await call_rows(stack, [caller])) or rows[0]["answered_at"] is None:
            assert time.monotonic() < deadline, (rows, phone.log()[-2000:])
            await asyncio.sleep(0.3)
        phone.command("hangup")
        result = await placing
        assert result.ok, result.output[-3000:]
        row = rows[0]
        assert (row["queue"], row["answered_by"], row["disposition"]) == (
            "takers-muba", "citra", "answered")
        # Answered within one ring of the registered phone: budi's absent phone cost
        # the caller nothing.
        assert (row["answered_at"] - row["queued_at"]).total_seconds() < 3.0, row
        steps = await call_steps(stack, row["uniqueid"])
        rung = {s["detail"]["member"] for s in steps if s["kind"] == "agent.called"}
        assert rung == {"citra"}, steps

        # The phone vanishes without a word: qualify marks it unavailable within seconds.
        phone.kill()
        started = time.monotonic()
        await asyncio.to_thread(wait_for, "citra unavailable after its phone vanished",
                                lambda: endpoint_state(stack, "citra") == "Unavailable", 15)
        assert time.monotonic() - started < 10
    finally:
        phone.stop()
