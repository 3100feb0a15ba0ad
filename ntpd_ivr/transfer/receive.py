"""Receiving a transfer (issue 23, item 3): the EIDO a neighbouring 112 center POSTs
before it transfers a caller to us, and its link to the call when the call arrives.

Pushed, not fetched: the sender POSTs the EIDO here first, gets a reference back, then
calls on its trunk with `Call-Info: <url>;purpose=EmergencyCallData.eido` naming it. So
our controller never opens a connection to another center while a caller waits (no
outgoing TLS, no timeout on the call's path, no URL from a SIP header to trust); the
document is validated before the call exists and only its reference rides the INVITE.

The listener faces the other centers, not the staff: its own aiohttp app on its own
address (settings [transfer]), like the operators' ELS receiver. One route,
`POST /eido/transfers`. In order, each refusal with a reason:
- 429 past `rate_per_minute` requests from one address (before any other work);
- 401 without a neighbour's token (`Authorization: Bearer <token_file's token>`), every
  neighbour's token compared in constant time: the token says who sent it, never a name
  in the body;
- 415 unless the body is JSON (`application/json` or `application/emergency.eido+json`);
- 413 for a body over eido.model.MAX_EIDO_BYTES (told or read);
- 400 with eido.model.read's reason for a document that is not a valid EIDO;
- 503 when it could not be stored (the sender may try again).
Stored: 201 {"reference", "url"}; `url` is what the sender puts in Call-Info.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.clock import utcnow
from ntpd_ivr.eido.model import MAX_EIDO_BYTES, EidoRefused, IncomingIncident, read
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.transfer.config import Neighbour
from ntpd_ivr.transfer.tables import TransferIn
from ntpd_ivr.web.ratelimit import RateLimit

log = logging.getLogger(__name__)

PATH = "/eido/transfers"
JSON_TYPES = ("application/json", "application/emergency.eido+json")
# A call names an EIDO posted at most this long before it (the sender calls at once).
LINK_WINDOW = timedelta(minutes=10)


# TransferStore.store: (neighbour key, the EIDO read, its text) -> the reference.
SaveEido = Callable[[str, IncomingIncident, str], Awaitable[str]]


class TransferStore:
    """The transfers_in rows: stored, linked to a call, read for its screen pop."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def store(self, neighbour: str, incoming: IncomingIncident, document: str) -> str:
        reference = uuid.uuid4().hex
        async with self.engine.begin() as conn:
            await conn.execute(insert(TransferIn).values(
                reference=reference, neighbour=neighbour,
                remote_incident_id=incoming.remote_incident_id,
                remote_call_id=incoming.remote_call_id, form=incoming.form(),
                document=document))
        return reference

    async def link(self, uniqueid: str, neighbour: str,
                   reference: str) -> Mapping[str, Any] | None:
        """The form of `neighbour`'s EIDO under `reference`, now linked to this call; None
        when there is none (unknown, another neighbour's, too old, another call's)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                update(TransferIn)
                .where(TransferIn.reference == reference, TransferIn.neighbour == neighbour,
                       TransferIn.received_at >= utcnow() - LINK_WINDOW,
                       (TransferIn.call_uniqueid.is_(None))
                       | (TransferIn.call_uniqueid == uniqueid))
                .values(call_uniqueid=uniqueid)
                .returning(TransferIn.form))).first()
        return dict(row.form) if row is not None else None

    async def for_call(self, uniqueid: str) -> dict[str, Any] | None:
        """What the desk's pop shows of a transferred call: the neighbour and the form."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(TransferIn.neighbour, TransferIn.form)
                .where(TransferIn.call_uniqueid == uniqueid)
                .order_by(TransferIn.id.desc()).limit(1))).first()
        if row is None:
            return None
        return {"neighbour": row.neighbour, "form": dict(row.form)}


def neighbours_of(routing: RoutingConfig) -> dict[str, Neighbour]:
    """Every neighbour by its key, once (one key is one center wherever it is listed)."""
    found: dict[str, Neighbour] = {}
    for neighbours in routing.neighbours.values():
        for neighbour in neighbours.values():
            found.setdefault(neighbour.key, neighbour)
    return found


class TransferReceiver:
    """The listener's state: the live routing config (who the neighbours are), the save,
    the limit and the counts (shown in /health)."""

    def __init__(self, save: SaveEido, routing: Callable[[], RoutingConfig], *,
                 rate_per_minute: int) -> None:
        self.save = save
        self.routing = routing
        self.limit = RateLimit(rate_per_minute)
        self.counts: Counter[str] = Counter()

    def neighbour(self, header: str) -> Neighbour | None:
        """The neighbour whose token the Authorization header carries, else None. Every
        neighbour's token is compared, in constant time, whatever matched."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        given = value.strip().encode("utf-8", "replace")
        found = None
        for neighbour in neighbours_of(self.routing()).values():
            try:
                expected = neighbour.token().encode()
            except OSError as exc:
                log.error("transfer: %s's token_file cannot be read: %s", neighbour.key, exc)
                continue
            if hmac.compare_digest(given, expected):
                found = neighbour
        return found

    def refuse(self, status: int, reason: str,
               headers: Mapping[str, str] | None = None) -> web.Response:
        self.counts["refused"] += 1
        self.counts[f"refused_{status}"] += 1
        log.warning("transfer EIDO refused (%s): %s", status, reason)
        return web.json_response({"error": "refused", "reason": reason}, status=status,
                                 headers=dict(headers or {}))

    async def post(self, request: web.Request) -> web.StreamResponse:
        self.counts["requests"] += 1
        # The limit before any other work, then who it is, then what it sent.
        if not self.limit.allow(request.remote or "?"):
            return self.refuse(429, "too many requests", {"Retry-After": "60"})
        neighbour = self.neighbour(request.headers.get("Authorization", ""))
        if neighbour is None:
            return self.refuse(401, "no valid neighbour token",
                               {"WWW-Authenticate": 'Bearer realm="eido-transfers"'})
        if request.content_type not in JSON_TYPES:
            return self.refuse(415, f"an EIDO is JSON ({', '.join(JSON_TYPES)}), got "
                               f"{request.content_type!r}")
        too_large = f"body larger than {MAX_EIDO_BYTES} bytes"
        if (request.content_length or 0) > MAX_EIDO_BYTES:
            return self.refuse(413, too_large)
        body = await request.content.read(MAX_EIDO_BYTES + 1)
        if len(body) > MAX_EIDO_BYTES:
            return self.refuse(413, too_large)
        try:
            incoming = read(body, self.routing().categories)
        except EidoRefused as exc:
            return self.refuse(400, str(exc))
        try:
            reference = await self.save(neighbour.key, incoming, body.decode("utf-8"))
        except SQLAlchemyError as exc:
            log.error("transfer EIDO from %s not stored: %s", neighbour.key, exc)
            return web.json_response({"error": "unavailable", "reason": "not stored"},
                                     status=503)
        self.counts["stored"] += 1
        log.info("transfer EIDO from %s stored as %s (their call %s)", neighbour.key,
                 reference, incoming.remote_call_id or "-")
        url = f"{request.url.origin()}{PATH}/{reference}"
        return web.json_response({"reference": reference, "url": url}, status=201)

    def state(self) -> dict[str, Any]:
        return dict(self.counts)


def transfer_app(receiver: TransferReceiver) -> web.Application:
    # client_max_size: aiohttp's own bound, a little above ours (ours answers first).
    app = web.Application(client_max_size=MAX_EIDO_BYTES + 1024)
    app.router.add_route("POST", PATH, receiver.post)
    return app
