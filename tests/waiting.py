"""Waiting in tests, on a machine that may be loaded (issue 20): wait for an event, with a
deadline generous enough that only a missing event reaches it. A deadline here is never a
budget: what must be fast is proved by an ordering (an event that would have come after
it), by a limit set far beyond every deadline, or measured in ntpd_ivr/bench."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

WAIT_S = 30.0  # how long a test waits for an event that should come
POLL_S = 0.01


async def eventually(check: Callable[[], object], what: str = "the condition",
                     within: float = WAIT_S) -> None:
    """Return once `check()` is true; fail, saying `what`, after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(POLL_S)
