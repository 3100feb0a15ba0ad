"""`ntpd-ivr bench-texts` (`make bench-texts`): 112 by text under load (issue 22 item 6):
p50/p99 of
- the time from an SMS entering Kannel (handed to the fake SMSC, the operator's SMSC as
  Kannel sees it) to the `text.offered` frame on the call-taker's desk WebSocket: fake
  SMSC -> bearerbox -> smsbox -> our receiver -> PostgreSQL (sms_inbox, calls,
  text_sessions, text_messages) -> the bus -> the hub -> the WebSocket;
- the time from the call-taker's send (`POST /api/texts/{id}/messages`) to the fake SMSC
  printing the reply: the outbox -> sendsms -> bearerbox -> the SMSC (its log polled every
  20 ms: the figure is up to 20 ms late).

`sessions` callers (20 by default) text at once: their SMS are handed to the fake SMSC back
to back (it takes one line per 0.1 s), then one desk takes every session and replies to
all of them at once. `rounds` rounds, new numbers each. The dev/test stack (Asterisk 22,
PostgreSQL, Kannel with its fake SMSC, the controller as a subprocess), web users tied to
the stand-ins (static members of the default region's queue); everything on 127.0.0.0/8;
every wait bounded.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from ntpd_ivr.bench.web import workspace_desk
from ntpd_ivr.errors import StackError
from ntpd_ivr.stack.controller import ControllerProcess
from ntpd_ivr.stack.devstack import DevStack, StackLayout
from ntpd_ivr.stack.kannel import FakeSmsc
from ntpd_ivr.stats import percentile

WAIT_S = 60.0
POLL_S = 0.02


def _progress(message: str) -> None:
    print(f"[bench-texts] {message}", flush=True)


@dataclass
class TextDesk:
    http: aiohttp.ClientSession
    base: str
    csrf: str
    socket: aiohttp.ClientWebSocketResponse

    async def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        async with self.http.request(method, f"{self.base}{path}", json=body,
                                     headers={"X-CSRF-Token": self.csrf}) as reply:
            found: dict[str, Any] = await reply.json()
            if reply.status >= 300:
                raise StackError(f"{method} {path}: {reply.status} {found}")
            return found

    async def offers(self, numbers: set[str], arrived: dict[str, tuple[float, str]]) -> None:
        """Until every number's session was offered: (perf_counter, uniqueid) each."""
        deadline = time.monotonic() + WAIT_S
        while not numbers <= set(arrived):
            left = deadline - time.monotonic()
            if left <= 0:
                raise StackError(f"offered {len(arrived.keys() & numbers)} of {len(numbers)} "
                                 f"sessions within {WAIT_S:g} s")
            message = json.loads(await self.socket.receive_str(timeout=left))
            if message.get("kind") == "text.offered":
                data = message["data"]
                arrived.setdefault(data["caller_number"],
                                   (time.perf_counter(), data["uniqueid"]))


@asynccontextmanager
async def text_desk(base: str, user: str, password: str) -> AsyncIterator[TextDesk]:
    async with workspace_desk(base, user, password) as (http, token, socket):
        yield TextDesk(http, base, token, socket)


def _send_all(smsc: FakeSmsc, numbers: list[str], started: dict[str, float]) -> None:
    for number in numbers:
        started[number] = time.perf_counter()
        smsc.send(number, "112", "Tolong, saya tidak bisa bicara. Ada pencuri di rumah.")


async def _printed(smsc: FakeSmsc, wanted: dict[str, str], seen: dict[str, float]) -> None:
    """Poll the fake SMSC's log until each number's reply (its words) is printed."""
    deadline = time.monotonic() + WAIT_S
    while len(seen) < len(wanted):
        if time.monotonic() > deadline:
            raise StackError(f"{len(seen)} of {len(wanted)} replies reached the SMSC")
        lines = await asyncio.to_thread(smsc.received)
        now = time.perf_counter()
        for number, words in wanted.items():
            if number not in seen and any(number in line and words in line for line in lines):
                seen[number] = now
        await asyncio.sleep(POLL_S)


async def one_round(stack: DevStack, desk: TextDesk, sessions: int, n: int
                    ) -> tuple[list[float], list[float]]:
    assert stack.fake_smsc is not None
    smsc = stack.fake_smsc
    numbers = [f"+62819{n:02d}{i:02d}" + "".join(random.choices("0123456789", k=3))
               for i in range(sessions)]
    started: dict[str, float] = {}
    arrived: dict[str, tuple[float, str]] = {}
    sending = asyncio.create_task(asyncio.to_thread(_send_all, smsc, numbers, started))
    await desk.offers(set(numbers), arrived)
    await sending
    inbound = [arrived[number][0] - started[number] for number in numbers]
    ids = {number: arrived[number][1] for number in numbers}
    await asyncio.gather(*(desk.call("POST", f"/api/texts/{u}/take") for u in ids.values()))
    words = {number: f"Petugas 112 membalas {number[-5:]}" for number in numbers}
    seen: dict[str, float] = {}
    watching = asyncio.create_task(_printed(smsc, words, seen))
    sent: dict[str, float] = {}

    async def reply(number: str) -> None:
        sent[number] = time.perf_counter()
        await desk.call("POST", f"/api/texts/{ids[number]}/messages", {"body": words[number]})
    await asyncio.gather(*(reply(number) for number in numbers))
    await watching
    outbound = [seen[number] - sent[number] for number in numbers]
    await asyncio.gather(*(desk.call("POST", f"/api/texts/{u}/end", {"disposition": "test"})
                           for u in ids.values()))
    return inbound, outbound


async def measure(stack: DevStack, sessions: int, rounds: int, password: str
                  ) -> tuple[list[float], list[float]]:
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    inbound: list[float] = []
    outbound: list[float] = []
    async with text_desk(base, "bench-texts-1", password) as desk:
        await desk.call("PUT", "/api/workspace/accepts-text", {"accepts": True})
        for n in range(rounds):
            into, out = await one_round(stack, desk, sessions, n)
            inbound += into
            outbound += out
            _progress(f"round {n + 1}/{rounds}: {sessions} sessions offered and answered")
    return inbound, outbound


def _figures(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {"p50_ms": round(percentile(ms, 50), 1), "p99_ms": round(percentile(ms, 99), 1),
            "min_ms": round(ms[0], 1), "max_ms": round(ms[-1], 1)}


def bench_texts(sessions: int = 20, rounds: int = 3, out: Path | None = None,
                keep: bool = False) -> int:
    run_dir = Path(tempfile.mkdtemp(prefix="ntpd-ivr-bench-texts-"))
    layout = StackLayout.ephemeral(run_dir, name=f"bench-texts-{secrets.token_hex(3)}")
    stack = DevStack(layout)
    controller = ControllerProcess(layout.settings_file, layout.web_port,
                                   run_dir / "controller.log")
    password = secrets.token_urlsafe(16)
    try:
        stack.up()
        subprocess.run(
            [sys.executable, "-m", "ntpd_ivr", "user", "add", "bench-texts-1", "--role",
             "calltaker", "--sip-endpoint", "taker-1", "--config", str(layout.settings_file),
             "--password-stdin"],
            input=password + "\n", capture_output=True, text=True, timeout=30, check=True)
        controller.start()
        inbound, outbound = asyncio.run(measure(stack, sessions, rounds, password))
    finally:
        controller.stop()
        stack.down()
    result = {"sessions_at_once": sessions, "rounds": rounds, "samples": len(inbound),
              "sms_in_to_desk": _figures(inbound), "send_to_smsc": _figures(outbound)}
    for key, what in (("sms_in_to_desk", "SMS into Kannel -> text.offered on the desk"),
                      ("send_to_smsc", "call-taker's send -> the SMSC")):
        f = result[key]
        assert isinstance(f, dict)
        _progress(f"{what}, {len(inbound)} sessions ({sessions} at once): p50 {f['p50_ms']} "
                  f"ms, p99 {f['p99_ms']} ms (min {f['min_ms']}, max {f['max_ms']})")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench-texts.json").write_text(json.dumps(result, indent=2) + "\n")
    if keep:
        _progress(f"run folder kept: {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0
