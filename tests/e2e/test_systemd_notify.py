"""The real controller (`ntpd-ivr serve`, AMI to the stack's Asterisk) speaks systemd's
notify protocol as deploy/systemd/ntpd-ivr.service expects: READY=1 once it serves,
WATCHDOG=1 pings at half of WatchdogSec from its event loop, STOPPING=1 at SIGTERM. The
socket is a real unix datagram socket standing in for systemd's."""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import Controller

pytestmark = pytest.mark.e2e


def messages_until(sock: socket.socket, wanted: bytes, timeout: float) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while not any(m.startswith(wanted) for m in got):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096))
        except TimeoutError:
            raise AssertionError(f"no {wanted!r} in {timeout} s; got {got}") from None
    return got


def test_ready_watchdog_and_stopping(running_controller: Controller,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    running_controller.stop()
    with tempfile.TemporaryDirectory(prefix="ntpd-ivr-notify-") as folder, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        path = str(Path(folder) / "notify")
        sock.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # WatchdogSec=1s: a ping each 0.5 s
        try:
            running_controller.start()
            first = messages_until(sock, b"READY=1", 10)
            assert first[-1].startswith(b"READY=1\nSTATUS=FastAGI on port")
            pings = [m for m in messages_until(sock, b"WATCHDOG=1", 3)
                     + messages_until(sock, b"WATCHDOG=1", 3) if m == b"WATCHDOG=1"]
            assert len(pings) >= 2
        finally:
            running_controller.stop()  # SIGTERM, as systemctl stop sends
        assert b"STOPPING=1" in messages_until(sock, b"STOPPING=1", 5)
    monkeypatch.delenv("NOTIFY_SOCKET")
    monkeypatch.delenv("WATCHDOG_USEC")
    running_controller.start()  # the shared controller, back as the other tests expect it
