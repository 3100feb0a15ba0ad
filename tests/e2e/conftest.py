"""One real Asterisk 22 and one PostgreSQL for the whole session, the real controller as
a subprocess (so a test can stop it), and SIPp call-taker stand-ins."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ntpd_ivr.db.models import Call, CallEvent
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.settings import load_settings
from ntpd_ivr.stack.devstack import OPERATOR_IP, TAKER_IP, DevStack, StackLayout
from ntpd_ivr.stack.sipp import Taker, place_call

Row = dict[str, Any]


async def call_rows(stack: DevStack, callers: Sequence[str]) -> list[Row]:
    """The `calls` rows of these caller numbers (in any form: records hold the canonical
    one, ntpd_ivr/numbers.py), read from the stack's PostgreSQL."""
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Call.__table__).where(
                Call.caller_number.in_([canonical_caller(c) for c in callers])))
                    ).mappings().all()
        return [dict(row) for row in rows]
    finally:
        await engine.dispose()


async def call_steps(stack: DevStack, uniqueid: str) -> list[Row]:
    """The call's `call_events` rows, oldest first."""
    engine = make_engine(load_settings(stack.layout.settings_file).database)
    try:
        async with engine.connect() as conn:
            steps = (await conn.execute(select(CallEvent.__table__).where(
                CallEvent.uniqueid == uniqueid).order_by(CallEvent.at))).mappings().all()
        return [dict(step) for step in steps]
    finally:
        await engine.dispose()


def caller(prefix: str = "08") -> str:
    return prefix + "".join(random.choices("0123456789", k=12 - len(prefix)))


async def record(stack: DevStack, number: str, *, kinds: frozenset[str] = frozenset(),
                 wait_s: float = 15.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The caller's finished call row and its steps (once the `kinds` are all there)."""
    deadline = time.monotonic() + wait_s
    while True:
        rows = await call_rows(stack, [number])
        steps = await call_steps(stack, rows[0]["uniqueid"]) if len(rows) == 1 else []
        if (len(rows) == 1 and rows[0]["ended_at"] is not None
                and kinds <= {s["kind"] for s in steps}):
            return rows[0], steps
        assert time.monotonic() < deadline, f"no finished record for {number}: {rows} {steps}"
        await asyncio.sleep(0.3)


async def dial(stack: DevStack, number: str, digit: str | None, *, dialed: str = "112",
               delay_ms: int = 1200) -> None:
    result = await asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, dialed=dialed,
        digit=digit, caller=number, digit_delay_ms=delay_ms, timeout=60)
    assert result.ok, result.output[-3000:]


class Controller:
    """`ntpd-ivr serve` in a subprocess, as an operator would run it."""

    def __init__(self, layout: StackLayout) -> None:
        self.layout = layout
        self.log_path = layout.run_dir / "controller.log"
        self.process: subprocess.Popen[bytes] | None = None

    def health(self) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.layout.web_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def start(self, timeout: float = 30.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ntpd_ivr", "serve", "--config",
             str(self.layout.settings_file), "--log-level", "DEBUG"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"controller exited: {self.log_tail()}"
            try:
                status, body = self.health()
                if status == 200 and body["ami"]["connected"]:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"controller not healthy in {timeout} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no drain, no flush."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def stack() -> Iterator[DevStack]:
    # Not pytest's tmp_path: it is private to root, and PostgreSQL runs as `postgres`.
    run_dir = Path(tempfile.mkdtemp(prefix="ntpd-ivr-e2e-"))
    layout = StackLayout.ephemeral(run_dir, name=f"e2e-{os.getpid()}")
    dev = DevStack(layout)
    try:
        dev.up()
        yield dev
    finally:
        dev.down()
        if os.environ.get("E2E_KEEP_STACK") == "1":  # for post-mortems of a failed run
            print(f"\nkept {run_dir} and {dev.asterisk.messages_log if dev.asterisk else ''}")
        else:
            dev.destroy()
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def controller(stack: DevStack) -> Iterator[Controller]:
    ctl = Controller(stack.layout)
    ctl.start()
    yield ctl
    ctl.stop()


@pytest.fixture
def running_controller(controller: Controller) -> Controller:
    """The controller, started again if an earlier test stopped it."""
    if controller.process is None:
        controller.start()
    return controller


class Takers:
    def __init__(self, ports: tuple[int, int], talk_ms: int) -> None:
        self.by_name = {f"taker-{i}": Taker(TAKER_IP, port, talk_ms=talk_ms)
                        for i, port in enumerate(ports, start=1)}

    def stop(self) -> None:
        for taker in self.by_name.values():
            taker.stop()


@pytest.fixture
def takers(stack: DevStack) -> Iterator[Takers]:
    """Both call-takers' softphones, each answering one call then hanging up after 1.5 s."""
    group = Takers(stack.layout.taker_ports, talk_ms=1500)
    time.sleep(0.3)  # let SIPp bind before Asterisk rings it
    yield group
    group.stop()
