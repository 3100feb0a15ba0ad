"""`ntpd-ivr bench-location` (`make bench-location`): the time from an AML SMS entering
Kannel to its fix on the call-taker's desk (issue 21 item 7), p50/p99.

The dev/test stack (Asterisk 22, PostgreSQL, Kannel with its fake SMSC, the controller as
a subprocess), two web users tied to the two call-taker stand-ins, each with the desk's
WebSocket open. One SIPp 112 call pops on one of them; then `messages` AML SMS from the
caller's number, one at a time, each handed to the fake SMSC (the operator's SMSC, as
Kannel sees it), timed from that moment to the `location.fix` message on the screen that
has the call: fake SMSC -> bearerbox -> smsbox -> our receiver's get-url -> PostgreSQL
(sms_inbox, location_fixes, the match) -> the bus -> the hub -> the WebSocket. Everything
on 127.0.0.0/8; every wait bounded.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from ntpd_ivr.bench.web import workspace_desk
from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.controller import ControllerProcess
from ntpd_ivr.stack.devstack import OPERATOR_IP, TAKER_IP, DevStack, StackLayout
from ntpd_ivr.stack.sipp import Taker, place_call
from ntpd_ivr.stats import percentile

ENDPOINTS = ("taker-1", "taker-2")


def _progress(message: str) -> None:
    print(f"[bench-location] {message}", flush=True)


def aml(i: int) -> str:
    """The i-th AML SMS: a point that moves a little each time."""
    lat, lon = -2.9761 - i * 0.0001, 104.7754 + i * 0.0001
    return (f'A"ML=1;lt={lat:+.5f};lg={lon:+.5f};rd={5 + i % 20};top=20261207091500;'
            f"lc=68;pm=G;si=510100000000000;ei=355458061005220;mcc=510;mnc=10;ml=125")


class Desk:
    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket

    async def next_event(self, kind: str, within: float) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(await self.socket.receive_str(timeout=left))
            except TimeoutError:
                break
            if message.get("kind") == kind:
                data: dict[str, Any] = message["data"]
                return data
        raise StackError(f"no {kind} on the desk within {within:g} s")


@asynccontextmanager
async def desk(base: str, user: str, password: str) -> AsyncIterator[Desk]:
    async with workspace_desk(base, user, password) as (_http, _token, socket):
        yield Desk(socket)


async def measure(stack: DevStack, messages: int, password: str) -> list[float]:
    assert stack.fake_smsc is not None
    smsc = stack.fake_smsc
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    number = "0819" + "".join(random.choices("0123456789", k=8))
    async with desk(base, "bench-1", password) as one, desk(base, "bench-2", password) as two:
        call = asyncio.create_task(asyncio.to_thread(
            place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1",
            caller=number, digit_delay_ms=1200, timeout=60))
        pops = {asyncio.create_task(d.next_event("call.ringing", 30)): d for d in (one, two)}
        done, pending = await asyncio.wait(pops, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        rung = pops[done.pop()]
        _progress(f"the call popped; {messages} AML SMS from {number}")
        took: list[float] = []
        for i in range(messages):
            # The fix is awaited while the fake SMSC is handed the message: its own
            # confirmation (it polls its log) must not be in the figure.
            started = time.perf_counter()
            sending = asyncio.create_task(asyncio.to_thread(smsc.send, number, "112", aml(i)))
            await rung.next_event("location.fix", 20)
            took.append(time.perf_counter() - started)
            await sending
        await call
    return took


def bench_location(messages: int = 30, out: Path | None = None, keep: bool = False) -> int:
    run_dir = Path(tempfile.mkdtemp(prefix="ntpd-ivr-bench-location-"))
    layout = StackLayout.ephemeral(run_dir, name=f"bench-location-{secrets.token_hex(3)}")
    stack = DevStack(layout)
    controller = ControllerProcess(layout.settings_file, layout.web_port,
                                   run_dir / "controller.log")
    takers: list[Taker] = []
    password = secrets.token_urlsafe(16)
    try:
        stack.up()
        for i, endpoint in enumerate(ENDPOINTS, start=1):
            subprocess.run(
                [sys.executable, "-m", "ntpd_ivr", "user", "add", f"bench-{i}", "--role",
                 "calltaker", "--sip-endpoint", endpoint, "--config",
                 str(layout.settings_file), "--password-stdin"],
                input=password + "\n", capture_output=True, text=True, timeout=30, check=True)
        controller.start()
        takers = [Taker(TAKER_IP, port, talk_ms=1500) for port in layout.taker_ports]
        for taker in takers:
            if not taker.wait_qualified(30):
                raise StackError(f"a call-taker stand-in never answered: {taker.logs()}")
        took = asyncio.run(measure(stack, messages, password))
    finally:
        for taker in takers:
            taker.stop()
        controller.stop()
        stack.down()
    ms = sorted(t * 1000 for t in took)
    result = {"messages": len(ms), "p50_ms": round(percentile(ms, 50), 1),
              "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(ms[-1], 1),
              "min_ms": round(ms[0], 1)}
    _progress(f"AML SMS into Kannel -> fix on the desk, {len(ms)} messages: "
              f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
              f"(min {result['min_ms']}, max {result['max_ms']})")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench-location.json").write_text(json.dumps(result, indent=2) + "\n")
    if keep:
        _progress(f"run folder kept: {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0
