"""The live stack for tests that need real calls: one Asterisk 22 and one PostgreSQL for
the whole session, the real controller as a subprocess (so a test can stop it), and the
SIPp call-taker stand-ins. Registered once, in tests/conftest.py, so the end-to-end and
the browser tests share one stack in a session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr.stack.devstack import TAKER_IP, DevStack, StackLayout
from ntpd_ivr.stack.sipp import Taker
from tests.waiting import standing_by


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

    def ensure_running(self) -> None:
        """Started again if an earlier test stopped or killed it."""
        if self.process is None:
            self.start()

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
    controller.ensure_running()
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
    standing_by(*group.by_name.values())
    yield group
    group.stop()


def add_web_user(stack: DevStack, name: str, password: str, *, role: str = "calltaker",
                 sip_endpoint: str | None = None, agency: str | None = None) -> None:
    """`ntpd-ivr user add` into the stack's users file (the controller reads it at start)."""
    endpoint = ["--sip-endpoint", sip_endpoint] if sip_endpoint else []
    endpoint += ["--agency", agency] if agency else []
    done = subprocess.run(
        [sys.executable, "-m", "ntpd_ivr", "user", "add", name, "--role", role, *endpoint,
         "--config", str(stack.layout.settings_file), "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
