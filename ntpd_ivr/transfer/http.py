"""The desk's transfer to another 112 center over HTTP (issue 23, item 2; docs/eido.md,
"Sending a transfer"):

    POST /api/incidents/{id}/transfers  {"neighbour": <key>, "call": <caller's uniqueid>}

Role calltaker (a supervisor too); the call must be one the call-taker's own phone answered
(incidents' `may_act_on`, the rule of a connect dispatch: another's call is 403
`not-your-call`, a supervisor's act on another's call is audited). The incident is saved
first: the desk sends its id. 200 with the neighbour's reference, url and the Call-Info the
transfer's INVITE carries; 502 `transfer-failed` when the neighbour did not take the EIDO
(the caller stays with the call-taker): `reason` (English, with the detail), `code` (send.py
REASONS) and `text` (the code's words in the user's language, `desk.transfer.reason.*`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ntpd_ivr.incidents import schemas
from ntpd_ivr.incidents.schemas import BadInput
from ntpd_ivr.transfer.sender import TransferFailed, TransferSender
from ntpd_ivr.web.app import checked_fields, json_reply, path_id, protect
from ntpd_ivr.web.auth import Session
from ntpd_ivr.web.i18n import translator
from ntpd_ivr.web.templates import SESSION_KEY

# (request, call uniqueid, action): allowed, or NotYourCall (403).
MayActOn = Callable[[web.Request, str, str], Awaitable[None]]
SENDER: web.AppKey[TransferSender] = web.AppKey("transfer-sender", TransferSender)
MAY_ACT_ON: web.AppKey[MayActOn] = web.AppKey("transfer-may-act-on",
                                              MayActOn)  # type: ignore[arg-type]


async def create_transfer(request: web.Request) -> web.Response:
    incident_id = path_id(request)
    body = await checked_fields(request)
    neighbour = schemas.text(body, "neighbour", limit=40)
    call = schemas.call_uniqueid(body)
    if call is None:
        raise BadInput("call is required: the uniqueid of the caller to transfer")
    await request.app[MAY_ACT_ON](request, call, "transfer")
    session: Session = request[SESSION_KEY]
    try:
        result = await request.app[SENDER].send_eido(incident_id, neighbour, call,
                                                     session.user)
    except TransferFailed as exc:
        # What the desk shows: the reason's words in the user's language, and the detail.
        return json_reply({"error": exc.error, "reason": exc.reason,
                           "code": exc.failure_reason,
                           "text": translator(request).code("transfer-reason",
                                                            exc.failure_reason)},
                          status=exc.status)
    return json_reply(result)


def add_routes(app: web.Application, sender: TransferSender, may_act_on: MayActOn) -> None:
    app[SENDER] = sender
    app[MAY_ACT_ON] = may_act_on
    app.router.add_post(r"/api/incidents/{id:\d+}/transfers", create_transfer,
                        name="transfer-create")
    protect(app, "transfer-create", "calltaker")
