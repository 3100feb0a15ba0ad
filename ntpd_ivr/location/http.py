"""The desk's side of the location link (staff web app). Route, with its least role:

    POST /api/location/link  {"call": uniqueid} (calltaker, CSRF): an SMS with a location
         link to the call's caller. 200 {"sms": outbox id, "expires_at"}; 403 not-yours
         (the call is not on this call-taker's phone), 404 not-found, 409 no-number.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ntpd_ivr.errors import Refusal
from ntpd_ivr.location.link import Links
from ntpd_ivr.web.app import protect, request_fields
from ntpd_ivr.web.auth import Session
from ntpd_ivr.web.templates import SESSION_KEY

# (call uniqueid, user) -> the caller's number if the call is this user's, else a Refusal.
CallOf = Callable[[str, str], Awaitable[str | None]]


def routes(links: Links, call_of: CallOf) -> Callable[[web.Application], None]:
    async def send_link(request: web.Request) -> web.Response:
        session: Session = request[SESSION_KEY]
        fields = await request_fields(request)
        call = fields.get("call")
        if not isinstance(call, str) or not call or len(call) > 64:
            raise Refusal("call: the call's uniqueid")
        number = await call_of(call, session.user)
        sent = await links.send(call, number, session.user)
        return web.json_response({"sms": sent.outbox_id,
                                  "expires_at": sent.expires_at.isoformat()})

    def add_routes(app: web.Application) -> None:
        protect(app, "location-link", "calltaker")
        app.router.add_post("/api/location/link", send_link, name="location-link")

    return add_routes
