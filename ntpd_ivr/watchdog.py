"""Ends the process if the event loop stops turning.

A frozen loop would hold every caller in a FastAGI session in silence: Asterisk has no read
timeout on a FastAGI socket, and TIMEOUT(absolute) does not interrupt a stalled AGI either
(tried on Asterisk 22.10.1: the caller sat in silence until SIPp gave up). When the process
exits, the kernel closes those sockets, each AGI() returns, and the dialplan sends the
caller to its fallback queue. The service manager (systemd Restart=always) starts us again.

The watchdog is a plain thread, so it keeps running while the loop is stuck.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

EXIT_LOOP_STALLED = 70  # EX_SOFTWARE


def _exit_now(stalled_for: float) -> None:
    # No logging machinery: its handlers may be what is stuck. One line, then out.
    sys.stderr.write(f"CRITICAL ntpd_ivr.watchdog event loop stalled {stalled_for:.1f} s; "
                     f"exiting so Asterisk sends callers to the fallback queue\n")
    sys.stderr.flush()
    os._exit(EXIT_LOOP_STALLED)


class LoopWatchdog:
    def __init__(self, stall_seconds: float,
                 on_stall: Callable[[float], None] = _exit_now) -> None:
        self.stall_seconds = stall_seconds
        self.tick_seconds = min(0.5, stall_seconds / 4)
        self.on_stall = on_stall
        self._last_tick = time.monotonic()
        self._stop = threading.Event()
        self._ticker: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    async def _tick(self) -> None:
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(self.tick_seconds)

    def _watch(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            stalled_for = time.monotonic() - self._last_tick
            if stalled_for > self.stall_seconds:
                self.on_stall(stalled_for)
                return

    def start(self) -> None:
        self._last_tick = time.monotonic()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._thread.start()
        log.info("event-loop watchdog: exit if the loop stalls over %.1f s", self.stall_seconds)

    async def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)
