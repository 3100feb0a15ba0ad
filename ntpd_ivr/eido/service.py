"""EIDO subscriptions over a WebSocket, in the pattern of NENA-STA-024 (subscribe, then a
notification carrying the EIDO of each new or changed incident in the subscriber's scope).

An agency's dispatch software connects to /api/v1/eido/subscriptions with its API token,
sends ``{"subscribe": {"requestId": ..., "requestType": "EIDO"}}``, is answered with a
``subscribeResponse`` naming its subscriptionId, and then receives ``{"event":
{"subscriptionId", "transactionId", "notification": [<EIDO>]}}`` for every incident that
changes in its scope: an agency token sees only the incidents dispatched to its agency; a
call-taker's or supervisor's sees all. A slow subscriber is dropped (its queue is bounded),
never allowed to hold up the others (docs/eido.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ntpd_ivr.eido.model import Center, export, to_json
from ntpd_ivr.eido.repository import EidoSource
from ntpd_ivr.routing.config import RoutingConfig

log = logging.getLogger(__name__)

QUEUE_LIMIT = 64            # notifications waiting for one subscriber; past it, dropped
SEND_TIMEOUT_SECONDS = 5.0
MAX_SUBSCRIPTIONS = 8       # per socket
MAX_SOCKETS = 200


@dataclass(eq=False)
class Subscriber:
    socket: web.WebSocketResponse
    name: str                   # the token's (or user's) name, for the logs
    agency: str | None          # None: every incident
    subscriptions: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class Subscriptions:
    def __init__(self, source: EidoSource, routing: Callable[[], RoutingConfig],
                 domain: str) -> None:
        self.source, self.routing, self.domain = source, routing, domain
        self.subscribers: set[Subscriber] = set()

    def center(self, region: str) -> Center:
        config = self.routing().regions.get(region)
        return Center(self.domain, region, config.name if config else region)

    async def document(self, incident_id: int, agency: str | None) -> dict[str, Any] | None:
        facts = await self.source.facts(incident_id, agency)
        return None if facts is None else export(facts, self.center(facts.region))

    async def changed(self, incident_id: int) -> None:
        """Tell every subscription in scope of this incident its new EIDO."""
        listening = [s for s in self.subscribers if s.subscriptions]
        if not listening:
            return
        facts = await self.source.facts(incident_id)
        if facts is None:
            return
        text = to_json(export(facts, self.center(facts.region)))
        dispatched = {d.agency for d in facts.dispatches}
        for subscriber in listening:
            if subscriber.agency is not None and subscriber.agency not in dispatched:
                continue
            for subscription in sorted(subscriber.subscriptions):
                message = ('{"event":{"subscriptionId":"' + subscription +
                           '","transactionId":"' + uuid.uuid4().hex +
                           '","notification":[' + text + "]}}")
                try:
                    subscriber.queue.put_nowait(message)
                except asyncio.QueueFull:
                    log.warning("eido subscriber %s too slow: dropped", subscriber.name)
                    self.subscribers.discard(subscriber)
                    await subscriber.socket.close(code=1008, message=b"too slow")
                    break

    def handle(self, subscriber: Subscriber, message: Any) -> dict[str, Any]:
        """One request from a subscriber -> the response to send."""
        if not isinstance(message, dict) or len(message) != 1:
            return _error("one request object: subscribe or unsubscribe")
        (kind, body), = message.items()
        if not isinstance(body, dict):
            return _error(f"{kind}: an object")
        request_id = body.get("requestId")
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 100:
            return _error(f"{kind}.requestId: a string of 1-100 characters")
        if kind == "subscribe":
            if body.get("requestType", "EIDO") != "EIDO":
                return _response(kind, request_id, 400, "requestType: only EIDO")
            if len(subscriber.subscriptions) >= MAX_SUBSCRIPTIONS:
                return _response(kind, request_id, 429,
                                 f"at most {MAX_SUBSCRIPTIONS} subscriptions a socket")
            subscription = uuid.uuid4().hex
            subscriber.subscriptions.add(subscription)
            log.info("eido subscription %s by %s (agency %s)", subscription, subscriber.name,
                     subscriber.agency or "all")
            return _response(kind, request_id, 200, "OK", subscriptionId=subscription)
        if kind == "unsubscribe":
            target = body.get("subscriptionId")
            if not isinstance(target, str) or target not in subscriber.subscriptions:
                return _response(kind, request_id, 404, "no such subscription on this socket")
            subscriber.subscriptions.discard(target)
            return _response(kind, request_id, 200, "OK", subscriptionId=target)
        return _error(f"unknown request {kind[:40]!r}: subscribe or unsubscribe")

    async def writer(self, subscriber: Subscriber) -> None:
        while True:
            text = await subscriber.queue.get()
            try:
                await asyncio.wait_for(subscriber.socket.send_str(text), SEND_TIMEOUT_SECONDS)
            except (TimeoutError, ConnectionError, RuntimeError):
                log.warning("eido subscriber %s: send failed, dropped", subscriber.name)
                self.subscribers.discard(subscriber)
                with contextlib.suppress(Exception):
                    await subscriber.socket.close(code=1011, message=b"send failed")
                return

    async def close_all(self) -> None:
        for subscriber in list(self.subscribers):
            with contextlib.suppress(Exception):
                await subscriber.socket.close(code=1001, message=b"server stopping")
        self.subscribers.clear()


def _response(kind: str, request_id: str, status: int, text: str, **extra: Any
              ) -> dict[str, Any]:
    return {f"{kind}Response": {"requestId": request_id, "statusCode": status,
                                "statusText": text, **extra}}


def _error(text: str) -> dict[str, Any]:
    return {"error": {"statusCode": 400, "statusText": text}}
