"""The desk's transfer to another 112 center over HTTP (issue 23, item 2; docs/eido.md,
"Sending a transfer"):

    POST /api/incidents/{id}/transfers  {"neighbour": <key>, "call": <caller's uniqueid>}

Role calltaker (a supervisor too); the call must be one the call-taker's own phone answered
(incidents' `may_act_on`, the rule of a connect dispatch: another's call is 403
`not-your-call`, a supervisor's act on another's call is audited). The incident is saved
first: the desk sends its id. 202 {"transfer": <the reference>, "state": "ringing"} with the
neighbour's reference, url and the Call-Info the transfer's INVITE carries, once the EIDO is
kept and the neighbour's trunk is being dialled (the rest comes on the desk's socket as
`transfer.state`); 502 `transfer-failed` when the neighbour did not take the EIDO, 409
`transfer-refused` when the call cannot go (no `contact`, the caller not with a call-taker):
the caller stays with the call-taker. Both carry `reason` (English, with the detail), `code`
(send.py REASONS, outbound.py CALL_REASONS) and `text` (the code's words in the user's
language, `desk.transfer.reason.*`).

    POST /api/incidents/{id}/transfers/{reference}/hand-over  {"call": <uniqueid>}

The desk's "hand over" once the other center accepted: our call-taker's leg leaves the
conference (the leave completes the transfer): 202, or 409 `transfer-refused`.

    GET /api/transfers?call=<uniqueid>

What a reloaded desk shows: {"transfer": the call's latest transfer ({transfer,
incident_id, call, neighbour, name, state, reason}, as `transfer.state` carries it) or
null}, from memory or the transfers_out row (null too when the database cannot say now).
The same role and own-call rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ntpd_ivr.incidents import schemas
from ntpd_ivr.incidents.schemas import BadInput
from ntpd_ivr.transfer.outbound import TransferRefused
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
        result = await request.app[SENDER].transfer(incident_id, neighbour, call,
                                                    session.user)
    except TransferFailed as exc:
        return _failed(request, exc.error, exc.reason, exc.failure_reason, exc.status)
    return json_reply(result, status=202)


def _failed(request: web.Request, error: str, reason: str, code: str, status: int
            ) -> web.Response:
    """What the desk shows: the reason's words in the user's language, and the detail."""
    return json_reply({"error": error, "reason": reason, "code": code,
                       "text": translator(request).code("transfer-reason", code)},
                      status=status)


async def hand_over(request: web.Request) -> web.Response:
    path_id(request)
    reference = request.match_info["reference"]
    body = await checked_fields(request)
    call = schemas.call_uniqueid(body)
    if call is None:
        raise BadInput("call is required: the uniqueid of the caller transferred")
    await request.app[MAY_ACT_ON](request, call, "transfer")
    caller = request.app[SENDER].caller
    assert caller is not None
    try:
        transfer = await caller.hand_over(reference, call)
    except TransferRefused as exc:
        return _failed(request, "transfer-refused", str(exc), exc.reason, 409)
    return json_reply({"transfer": transfer.reference, "state": transfer.state},
                      status=202)


async def of_call(request: web.Request) -> web.Response:
    call = schemas.call_uniqueid(request.query)
    if call is None:
        raise BadInput("call is required: the uniqueid of the caller")
    caller = request.app[SENDER].caller
    found = await caller.of_call(call) if caller is not None else None
    # The desk asks at every pop, ringing included, when the call is not yet on this
    # call-taker's phone: a call with no transfer answers null to anyone (nothing to
    # show, nothing refused or audited); one with a transfer only to who may act on it.
    if found is None:
        return json_reply({"transfer": None})
    await request.app[MAY_ACT_ON](request, call, "transfer-view")
    return json_reply({"transfer": found})


def add_routes(app: web.Application, sender: TransferSender, may_act_on: MayActOn) -> None:
    app[SENDER] = sender
    app[MAY_ACT_ON] = may_act_on
    app.router.add_post(r"/api/incidents/{id:\d+}/transfers", create_transfer,
                        name="transfer-create")
    protect(app, "transfer-create", "calltaker")
    app.router.add_post(r"/api/incidents/{id:\d+}/transfers/{reference:[0-9a-f]{32}}/hand-over",
                        hand_over, name="transfer-hand-over")
    protect(app, "transfer-hand-over", "calltaker")
    app.router.add_get("/api/transfers", of_call, name="transfer-of-call")
    protect(app, "transfer-of-call", "calltaker")
