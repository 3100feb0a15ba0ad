"""One in-process bus between the domains: typed events, never lambdas or string prefixes.

An event is a frozen dataclass in the publishing domain's `<domain>/events.py`; a domain
that cares subscribes to its type in its plugin (`core.bus.subscribe(WallCallEnded, ...)`).
The publisher knows nobody.

Two kinds of delivery:
- `publish(event)`: news. Every handler runs at once, in the order of subscription, on the
  loop; a handler never blocks (it sets state or spawns a task). A failing handler is
  logged with its exception and the others still run: one domain's bug never stops another
  domain's screen.
- `await call(event)`: a step of the publisher's own work, inside its transaction (a
  disposition's strike is written with the disposition, or neither is). Its handlers are
  awaited in order, and a failure is the publisher's (it propagates).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[E], object]  # what it returns is ignored
AwaitedHandler = Callable[[E], Awaitable[None]]


class Bus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Callable[[Any], object]]] = {}
        self._awaited: dict[type, list[Callable[[Any], Awaitable[None]]]] = {}

    def subscribe(self, event_type: type[E], handler: Handler[E]) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    def subscribe_awaited(self, event_type: type[E], handler: AwaitedHandler[E]) -> None:
        self._awaited.setdefault(event_type, []).append(handler)

    def publish(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                log.exception("bus handler %s failed on %s",
                              getattr(handler, "__qualname__", handler), type(event).__name__)

    async def call(self, event: object) -> None:
        for handler in self._awaited.get(type(event), ()):
            await handler(event)
