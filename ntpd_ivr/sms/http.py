"""The receiver Kannel's smsbox calls: `/sms/mo` (its get-url: one incoming SMS) and
`/sms/dlr` (a message's dlr-url: one delivery report). Its own aiohttp app on its own
loopback port (sms.receiver_host/receiver_port), never the staff's web app. Every request
carries the shared secret (query `key`), compared in constant time; without it: 403.

smsbox tries a failed request again (kannel.conf http-request-retry), so a fault on our
side answers 503 rather than losing an SMS (an AML fix among them).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ntpd_ivr.sms.service import Inbox, Outbox
from ntpd_ivr.web.listener import Listener

log = logging.getLogger(__name__)

INBOX = web.AppKey("sms_inbox", Inbox)
OUTBOX = web.AppKey("sms_outbox", Outbox)
SECRET = web.AppKey("sms_secret", bytes)
MAX_FIELD_CHARS = 2000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _authorized(request: web.Request) -> bool:
    given = request.query.get("key", "").encode("utf-8", "replace")
    return hmac.compare_digest(given, request.app[SECRET])


@web.middleware
async def _shared_secret(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _authorized(request):
        log.warning("SMS receiver: refused a request without the shared secret from %s",
                    request.remote)
        raise web.HTTPForbidden(text="forbidden\n")
    return await handler(request)


def _field(request: web.Request, name: str, *, required: bool = True) -> str:
    value = request.query.get(name, "")
    if (required and not value) or len(value) > MAX_FIELD_CHARS:
        raise web.HTTPBadRequest(text=f"{name}: missing or too long\n")
    return value


async def incoming(request: web.Request) -> web.Response:
    """One MO SMS: %p, %P, %a and %I of the get-url."""
    sender, text = _field(request, "from"), _field(request, "text")
    receiver = _field(request, "to", required=False)
    try:
        await request.app[INBOX].receive(sender, receiver, text,
                                         _field(request, "id", required=False))
    except SQLAlchemyError as exc:
        log.error("SMS from %s not stored (Kannel will try again): %s", sender, exc)
        raise web.HTTPServiceUnavailable(text="not stored\n") from None
    # The body is no SMS (sms-service max-messages = 0): Kannel only needs the 200.
    return web.Response(text="ok\n")


async def delivery_report(request: web.Request) -> web.Response:
    token = _field(request, "token")
    try:
        dlr_type = int(_field(request, "type"))
    except ValueError:
        raise web.HTTPBadRequest(text="type: not a number\n") from None
    try:
        known = await request.app[OUTBOX].record_report(
            token, dlr_type, _field(request, "reply", required=False))
    except SQLAlchemyError as exc:
        log.error("delivery report not stored (Kannel will try again): %s", exc)
        raise web.HTTPServiceUnavailable(text="not stored\n") from None
    if not known:
        raise web.HTTPNotFound(text="no such message\n")
    return web.Response(text="ok\n")


def receiver_app(inbox: Inbox, outbox: Outbox, shared_secret: str) -> web.Application:
    if not shared_secret:
        raise ValueError("the SMS receiver needs a shared secret")
    app = web.Application(middlewares=[_shared_secret], client_max_size=16_384)
    app[INBOX] = inbox
    app[OUTBOX] = outbox
    app[SECRET] = shared_secret.encode()
    app.router.add_route("GET", "/sms/mo", incoming)
    app.router.add_route("GET", "/sms/dlr", delivery_report)
    return app


# The receiver app served on its own port: `start()`, `stop()` (ntpd_ivr/web/listener.py).
Receiver = Listener
