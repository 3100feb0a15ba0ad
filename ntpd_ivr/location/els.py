"""The ELS HTTPS POST receiver (Android Emergency Location Service, ETSI AML over HTTPS):
the one endpoint that faces the operators, not the staff, so it is its own aiohttp app on
its own listener (location.els_host:els_port, loopback by default; TLS ends in front of it,
at the operator-facing proxy).

One route, `POST /els`. In order, each refusal counted under its reason:
- 429 past `els_rate_per_minute` requests from one address (before any other work);
- 401 without an operator's credentials (HTTP Basic, operator:secret), every operator's
  secret compared in constant time;
- 413 for a body larger than `els_max_body_bytes` (told or read);
- 400 with the parser's reason for a malformed body (ntpd_ivr/location/aml.py);
- 503 when the fix could not be stored (the sender may try again).
A stored fix answers 200 {"stored": true, "matched": bool}. Any other path or method: 404
or 405, with nothing about the service.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ntpd_ivr.location.aml import FixRefusal, parse_els_body
from ntpd_ivr.web.ratelimit import RateLimit

log = logging.getLogger(__name__)

Store = Callable[[Any], Awaitable[Any]]  # Fixes.receive: a LocationFix in, FixArrived|None


class ElsReceiver:
    """The app's state: credentials, the limit, the counts (shown in /health)."""

    def __init__(self, store: Store, credentials: Mapping[str, str], *, rate_per_minute: int,
                 max_body_bytes: int) -> None:
        if not credentials:
            raise ValueError("the ELS receiver needs at least one operator's credentials")
        self.store = store
        self.credentials = {op: secret.encode() for op, secret in credentials.items()}
        self.limit = RateLimit(rate_per_minute)
        self.max_body_bytes = max_body_bytes
        self.counts: Counter[str] = Counter()

    def operator(self, header: str) -> str | None:
        """The operator whose credentials the Authorization header carries, else None.
        Every operator's secret is compared, in constant time, whatever matched."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        name, _, secret = decoded.partition(b":")
        found = None
        for operator, expected in self.credentials.items():
            same_name = hmac.compare_digest(name, operator.encode())
            same_secret = hmac.compare_digest(secret, expected)
            if same_name and same_secret:
                found = operator
        return found

    def refuse(self, status: int, reason: str, raw: str = "") -> web.Response:
        self.counts["refused"] += 1
        self.counts[f"refused_{status}"] += 1
        log.warning("ELS POST refused (%s): %s %s", status, reason, raw[:120])
        return web.json_response({"error": "refused", "reason": reason}, status=status)

    async def post(self, request: web.Request) -> web.StreamResponse:
        self.counts["requests"] += 1
        if not self.limit.allow(request.remote or "?"):
            response = self.refuse(429, "too many requests")
            response.headers["Retry-After"] = "60"
            return response
        operator = self.operator(request.headers.get("Authorization", ""))
        if operator is None:
            response = self.refuse(401, "no valid operator credentials")
            response.headers["WWW-Authenticate"] = 'Basic realm="els"'
            return response
        if (request.content_length or 0) > self.max_body_bytes:
            return self.refuse(413, f"body larger than {self.max_body_bytes} bytes")
        body = await request.content.read(self.max_body_bytes + 1)
        if len(body) > self.max_body_bytes:
            return self.refuse(413, f"body larger than {self.max_body_bytes} bytes")
        parsed = parse_els_body(body, request.headers.get("Content-Type", ""))
        if isinstance(parsed, FixRefusal):
            return self.refuse(400, parsed.reason, parsed.raw)
        try:
            arrived = await self.store(parsed)
        except SQLAlchemyError as exc:
            log.error("ELS fix from %s not stored: %s", operator, exc)
            return web.json_response({"error": "unavailable", "reason": "not stored"},
                                     status=503)
        self.counts["stored"] += 1
        return web.json_response({"stored": True, "matched": arrived is not None})

    def state(self) -> dict[str, Any]:
        return dict(self.counts)


def els_app(receiver: ElsReceiver) -> web.Application:
    # client_max_size: aiohttp's own bound, a little above ours (ours answers first).
    app = web.Application(client_max_size=receiver.max_body_bytes + 1024)
    app.router.add_route("POST", "/els", receiver.post)
    return app
