"""The callback sweep that calls' ends ask for: soon after a call ends, but under load
(a call ending every few milliseconds) spaced, not back to back (docs/performance.md)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ntpd_ivr.callbacks import service as callbacks_service
from ntpd_ivr.callbacks.service import CallbackService
from ntpd_ivr.settings import CallbackSettings


@contextlib.asynccontextmanager
async def sweeping_service(monkeypatch: pytest.MonkeyPatch, *, delay: float, spacing: float
                           ) -> AsyncIterator[tuple[CallbackService, list[float]]]:
    """A started callback service whose sweeps only note their loop time (no database);
    stopped on leaving."""
    monkeypatch.setattr(callbacks_service, "SWEEP_DELAY_SECONDS", delay)
    monkeypatch.setattr(callbacks_service, "SWEEP_SPACING_SECONDS", spacing)
    service = CallbackService(engine=None, ami=None, settings=CallbackSettings())  # type: ignore[arg-type]
    sweeps: list[float] = []

    async def sweep(now: Any = None) -> int:
        sweeps.append(asyncio.get_running_loop().time())
        return 0

    monkeypatch.setattr(service, "sweep", sweep)
    service.start()
    try:
        yield service, sweeps
    finally:
        await service.stop()


async def test_sweeps_asked_for_by_a_stream_of_call_ends_are_spaced(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    async with sweeping_service(monkeypatch, delay=0.02, spacing=0.25) as (service, sweeps):
        ends = loop.time() + 1.0
        while loop.time() < ends:  # a call ends every 10 ms for a second
            service.call_ended()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
    gaps = [later - earlier for earlier, later in itertools.pairwise(sweeps)]
    # At start, then one each 0.25 s: 5 at most in 1.3 s; back to back (0.02 s apart)
    # would be dozens.
    assert 3 <= len(sweeps) <= 6, sweeps
    assert min(gaps) >= 0.24, gaps


async def test_a_call_end_after_a_quiet_spell_is_swept_after_the_short_delay(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    async with sweeping_service(monkeypatch, delay=0.05, spacing=0.25) as (service, sweeps):
        await asyncio.sleep(0.5)  # the start's sweep, then quiet past the spacing
        ended = loop.time()
        service.call_ended()
        await asyncio.sleep(0.3)
    assert len(sweeps) == 2, sweeps
    assert 0.04 <= sweeps[1] - ended <= 0.2, sweeps[1] - ended
