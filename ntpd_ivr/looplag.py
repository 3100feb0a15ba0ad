"""How late the event loop turns: a task sleeps a fixed interval and records how much
later than asked it woke. Every FastAGI reply, AMI event and record write waits in the same
loop, so this lag is added to each of them; /healthz shows it and the bench reads it there.

Unlike the watchdog (a thread that ends a stuck process), this only measures.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import Any

from ntpd_ivr.stats import percentile


class LoopLagMonitor:
    """Keeps the lag of the last `window` wake-ups (bounded memory, ~10 s by default)."""

    def __init__(self, interval: float = 0.1, window: int = 100) -> None:
        self.interval = interval
        self.samples: deque[float] = deque(maxlen=window)  # seconds late per wake-up
        self.total = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, lag_seconds: float) -> None:
        self.samples.append(max(0.0, lag_seconds))
        self.total += 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.add(loop.time() - asked)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # the task's CancelledError, not ours
            self._task = None

    def state(self) -> dict[str, Any]:
        """Lag over the window in ms (None before the first sample), for /healthz. With the
        window's samples themselves, oldest first, and the running count, a reader that
        polls more often than the window lasts gets every sample once (the bench does)."""
        def ms(value: float) -> float | None:
            return None if math.isnan(value) else round(value * 1000, 2)

        window = list(self.samples)
        return {"lag_ms_p50": ms(percentile(window, 50)),
                "lag_ms_p99": ms(percentile(window, 99)),
                "lag_ms_max": ms(max(window, default=math.nan)),
                "window_samples": len(window), "interval_ms": round(self.interval * 1000),
                "samples_total": self.total,
                "recent_ms": [round(v * 1000, 2) for v in window]}
