"""Live queue state for routing, from AMI QueueSummary: short timeout, cached ~1 s.

A caller never waits on this: a failure, a timeout or a garbled answer gives an empty
state ("unknown"), and the routing engine then keeps the caller on the regional queue.
Concurrent callers share one in-flight request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import TYPE_CHECKING

from ntpd_ivr.ami.events import AmiActions, AmiEvent, QueueSummary
from ntpd_ivr.routing.engine import LiveState, QueueState

if TYPE_CHECKING:
    from ntpd_ivr.routing.config import RoutingConfig

log = logging.getLogger(__name__)

UNKNOWN: LiveState = MappingProxyType({})



def live_state(events: Iterable[AmiEvent]) -> LiveState:
    """QueueSummary items -> queue name -> state (ami/ has typed them and dropped the
    malformed ones)."""
    return MappingProxyType({
        event.queue: QueueState(logged_in=event.logged_in, available=event.available,
                                callers=event.callers,
                                longest_wait_seconds=float(event.longest_hold_time))
        for event in events if isinstance(event, QueueSummary)})


class QueueMonitor:
    def __init__(self, ami: AmiActions | None, timeout_seconds: float = 0.3,
                 cache_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 config: Callable[[], RoutingConfig] | None = None) -> None:
        self.ami = ami
        self._timeout_seconds = timeout_seconds
        self._cache_seconds = cache_seconds
        self.config = config  # the live routing config: its `ivr` limits win when given
        self.clock = clock
        self._cached: tuple[float, LiveState] | None = None
        self._inflight: asyncio.Task[LiveState] | None = None

    @property
    def timeout_seconds(self) -> float:
        if self.config is not None:
            return self.config().ivr.live_state_timeout_ms / 1000
        return self._timeout_seconds

    @property
    def cache_seconds(self) -> float:
        if self.config is not None:
            return self.config().ivr.live_state_cache_seconds
        return self._cache_seconds

    async def _fetch(self) -> LiveState:
        if self.ami is None:
            return UNKNOWN
        try:
            result = await asyncio.wait_for(
                self.ami.action({"Action": "QueueSummary"}, timeout=self.timeout_seconds),
                self.timeout_seconds + 0.05)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("live queue state unknown (AMI QueueSummary: %s); callers stay on "
                        "their regional queue", exc)
            return UNKNOWN
        return live_state(result.events)

    async def snapshot(self) -> LiveState:
        now = self.clock()
        if self._cached is not None and now - self._cached[0] < self.cache_seconds:
            return self._cached[1]
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._fetch())
        task = self._inflight
        try:
            # shield: one caller hanging up must not cancel the request the others share.
            state = await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception:  # pragma: no cover - _fetch does not raise
            return UNKNOWN
        self._cached = (self.clock(), state)
        return state
