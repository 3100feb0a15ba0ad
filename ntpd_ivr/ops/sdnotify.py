"""systemd's notify protocol (sd_notify(3)), enough for Type=notify and WatchdogSec=: one
datagram per message to the unix socket named by $NOTIFY_SOCKET ("@..." is the abstract
namespace). Without $NOTIFY_SOCKET (not run by systemd) every call does nothing.

The watchdog pings come from a task of the event loop itself, at half of $WATCHDOG_USEC:
a loop that stops turning stops the pings, and systemd restarts the controller
(deploy/systemd/ntpd-ivr.service: Restart=always). $WATCHDOG_PID, when set, must be ours.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET", "")
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ours = not pid or (pid.isdigit() and int(pid) == os.getpid())
        self.watchdog_seconds = (int(usec) / 1_000_000
                                 if usec.isdigit() and int(usec) > 0 and ours else None)
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, message: str) -> bool:
        """Send one message (e.g. "READY=1"); False when not under systemd or it failed."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(1.0)  # a datagram send; never wait on a stuck systemd
                sock.sendto(message.encode(), target)
        except OSError as exc:
            log.warning("sd_notify %r to %s failed: %s", message, self.address, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    async def _pings(self, every: float) -> None:
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(every)

    def start_watchdog(self) -> None:
        if self.enabled and self.watchdog_seconds is not None:
            self._task = asyncio.get_running_loop().create_task(
                self._pings(self.watchdog_seconds / 2), name="sd-watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # the task's CancelledError, not ours
            self._task = None
