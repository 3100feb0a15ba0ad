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

from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.baresip import Softphone
from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import SippResult, place_call

from .conftest import Controller, Row, call_rows, call_steps
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


async def leg_security(stack: DevStack, endpoint: str) -> list[str]:
    """chan_pjsip's CHANNEL() of the live leg to `endpoint`: signalling over a secure
    transport, audio encrypted ("1", "1" for TLS and SRTP)."""
    assert stack.asterisk is not None
    channels = stack.asterisk.cli("core show channels concise")
    leg = re.search(rf"^(PJSIP/{endpoint}-[0-9a-f]+)!", channels, re.M)
    assert leg, channels
    return await channel_values(stack, leg.group(1), "CHANNEL(pjsip,secure)",
                                "CHANNEL(rtp,secure,audio)")


async def channel_values(stack: DevStack, channel: str, *names: str) -> list[str]:
    """Channel variables or functions of a live channel, read over AMI (Getvar)."""
    ami = AmiClient(load_settings(stack.layout.settings_file).ami)
    await ami.start()
    try:
        assert await ami.wait_connected(timeout=10)
        values = []
        for name in names:
            reply = await ami.action({"Action": "Getvar", "Channel": channel,
                                      "Variable": name}, timeout=5)
            assert reply.response.response == "Success", reply.response
            values.append(reply.response.get("Value"))
        return values
    finally:
        await ami.stop()


def wait_for(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.3)


async def answered_muba_call(stack: DevStack, phone: Softphone,
                             ) -> tuple[asyncio.Task[SippResult], list[Row]]:
    """A 112 call for Musi Banyuasin (press 1), returned once a call-taker answered it:
    the call still going, and its record."""
    caller = new_caller()
    placing = asyncio.create_task(asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0,
        dialed=MUBA_DID, digit="1", caller=caller, digit_delay_ms=800, timeout=60))
    deadline = time.monotonic() + 20
    while not (rows := await call_rows(stack, [caller])) or rows[0]["answered_at"] is None:
        assert time.monotonic() < deadline, (rows, phone.log()[-2000:])
        await asyncio.sleep(0.3)
    return placing, rows


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
    assert re.search(r"^citra\s+muba\s+takers-muba\s+udp$", listed, re.M), listed
    queue = stack.asterisk.cli("queue show takers-muba")
    assert "citra (PJSIP/citra" in queue and "budi (PJSIP/budi" in queue, queue
    # Nobody registered yet: both members are unavailable, not rung.
    assert endpoint_state(stack, "budi") == "Unavailable"

    phone = Softphone("citra", muba_takers["citra"], f"127.0.0.1:{stack.layout.sip_port}")
    try:
        await asyncio.to_thread(wait_for, "citra registered and reachable",
                                lambda: endpoint_state(stack, "citra") == "Not in use", 15)
        placing, rows = await answered_muba_call(stack, phone)
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


async def test_a_tls_softphone_registers_and_takes_the_call_with_srtp(
        stack: DevStack, running_controller: Controller) -> None:
    assert stack.asterisk is not None
    assert re.search(r"res_srtp\.so.*Running", stack.asterisk.cli("module show like res_srtp"))
    password = re.search(r"generated password \(shown once, stored nowhere\): (\S+)",
                         taker_cli(stack, "add", "dina", "--region", "muba", "--tls"))
    assert password
    phone = Softphone("dina", password.group(1), f"127.0.0.1:{stack.layout.sip_tls_port}",
                      tls_ca=stack.tls_dir / "ca.crt")
    try:
        await asyncio.to_thread(wait_for, "dina registered over TLS",
                                lambda: endpoint_state(stack, "dina") == "Not in use", 15)
        # Registered at the TLS port (nothing else listens there), the contact rewritten
        # to its TLS connection: calls go down that connection.
        contacts = stack.asterisk.cli("pjsip show contacts")
        assert re.search(r"dina/sip:dina-\S+@127\.0\.0\.1:\d+;t\S*\s+\S+\s+Avail", contacts), \
            contacts
        placing, rows = await answered_muba_call(stack, phone)
        # While the call is up: the call-taker's leg is SRTP (Asterisk's own view).
        assert await leg_security(stack, "dina") == ["1", "1"]
        phone.command("hangup")
        result = await placing
        assert result.ok, result.output[-3000:]
        assert (rows[0]["answered_by"], rows[0]["disposition"]) == ("dina", "answered")
    finally:
        phone.stop()
        taker_cli(stack, "remove", "dina")
