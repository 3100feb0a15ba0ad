"""Sending a transfer from the desk (issue 23, item 2), its first step: the incident's EIDO
to the neighbour the call-taker picked, recorded on the call and in the audit trail.

`TransferSender.send_eido(incident, neighbour, call, actor)`:
1. the neighbour must be one the incident's region lists (routing config);
2. the incident's EIDO (eido.model.export, as /api/v1 serves it) is POSTed to the
   neighbour's eido_url with its token (send.post_eido: bounded, checked);
3. kept: a `transfer.eido-sent` step on the caller's call record and a `transfer.eido-sent`
   audit entry on the incident, both with the neighbour's reference and url (our incident
   records the remote center's reference); the Call-Info the transfer's INVITE carries
   is returned;
4. refused, timed out or unreachable: a `transfer.failed` step and audit entry with the
   reason and its detail, and TransferFailed (502 `transfer-failed`, the reason for the
   desk's `transfer.failed.<reason>`): the caller stays with the call-taker.
`TransferSender.transfer(...)` is the desk's whole action: the caller checked first (the
neighbour has a `contact`, the caller is in a call with a call-taker: else 409
`transfer-refused` and a `transfer.failed` step, no EIDO sent), then the EIDO as above, then
the attended transfer of the call (call.py, TransferCaller.start): `transfer.ringing`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from ntpd_ivr.audit.trail import AuditWriter
from ntpd_ivr.calls.values import CallStep
from ntpd_ivr.clock import utcnow
from ntpd_ivr.errors import Refusal
from ntpd_ivr.incidents.exceptions import NotFound
from ntpd_ivr.incidents.schemas import BadInput
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.transfer.call import TransferCaller
from ntpd_ivr.transfer.config import Neighbour
from ntpd_ivr.transfer.outbound import TransferRefused
from ntpd_ivr.transfer.send import TIMEOUT_SECONDS, EidoPostFailed, Posted, post_eido

log = logging.getLogger(__name__)

# incident id -> (its region, its EIDO), None when there is no such incident.
IncidentEido = Callable[[int], Awaitable[tuple[str, dict[str, Any]] | None]]
StepSink = Callable[[CallStep], object]
KIND_SENT = "transfer.eido-sent"
KIND_FAILED = "transfer.failed"


class TransferFailed(Refusal):
    """The neighbour did not take the EIDO: nothing else happened, the caller stays."""

    status = 502
    error = "transfer-failed"
    pages = False

    def __init__(self, failure: EidoPostFailed | TransferRefused, neighbour: Neighbour
                 ) -> None:
        super().__init__(f"{neighbour.name}: {failure.reason}: {failure.detail}")
        self.failure_reason = failure.reason


class TransferNotStarted(TransferFailed):
    """The caller cannot be transferred now (the neighbour has no contact, the caller is
    not in a call with a call-taker): no EIDO sent, the caller stays."""

    status = 409
    error = "transfer-refused"


class TransferSender:
    def __init__(self, incident_eido: IncidentEido, routing: Callable[[], RoutingConfig],
                 audit: AuditWriter, steps: StepSink, *,
                 seconds: float = TIMEOUT_SECONDS, caller: TransferCaller | None = None
                 ) -> None:
        self.caller = caller  # the call's half (call.py); None: the EIDO alone
        self.incident_eido = incident_eido
        self.routing = routing
        self.audit = audit
        self.steps = steps
        self.seconds = seconds
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No proxy from the environment: the incident goes to the neighbour alone.
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    def neighbour(self, region: str, key: str) -> Neighbour:
        neighbour = self.routing().neighbours.get(region, {}).get(key)
        if neighbour is None:
            raise BadInput(f"neighbour: {key!r} is not a center region {region} may "
                           "transfer to (routing config neighbours)")
        return neighbour

    async def transfer(self, incident_id: int, neighbour_key: str, call: str,
                       actor: str) -> dict[str, Any]:
        """The desk's transfer: the caller checked, the EIDO sent, the call dialled to the
        neighbour (`ringing`); the rest comes as `transfer.state` on the desk."""
        assert self.caller is not None, "the transfer plugin gives the sender its caller"
        region, document = await self._found(incident_id)
        neighbour = self.neighbour(region, neighbour_key)
        try:
            shown = await self.caller.check(neighbour, call)
        except TransferRefused as refused:
            await self._record(KIND_FAILED, incident_id, call, actor, {
                "neighbour": neighbour.key, "reason": refused.reason,
                "detail": refused.detail})
            raise TransferNotStarted(refused, neighbour) from None
        sent = await self._send(incident_id, neighbour, document, call, actor)
        started = await self.caller.start(incident_id, neighbour, call, actor, shown,
                                          sent["call_info"], sent["reference"])
        return {**sent, "transfer": started.reference, "state": started.state}

    async def _found(self, incident_id: int) -> tuple[str, dict[str, Any]]:
        found = await self.incident_eido(incident_id)
        if found is None:
            raise NotFound(f"no incident {incident_id}")
        return found

    async def send_eido(self, incident_id: int, neighbour_key: str, call: str,
                        actor: str) -> dict[str, Any]:
        region, document = await self._found(incident_id)
        return await self._send(incident_id, self.neighbour(region, neighbour_key),
                                document, call, actor)

    async def _send(self, incident_id: int, neighbour: Neighbour, document: dict[str, Any],
                    call: str, actor: str) -> dict[str, Any]:
        try:
            posted = await post_eido(self._client(), neighbour, document,
                                     seconds=self.seconds)
        except EidoPostFailed as failure:
            await self._record(KIND_FAILED, incident_id, call, actor, {
                "neighbour": neighbour.key, "reason": failure.reason,
                "detail": failure.detail})
            log.warning("transfer of incident %d to %s failed: %s", incident_id,
                        neighbour.key, failure, extra={"call_id": call})
            raise TransferFailed(failure, neighbour) from None
        await self._record(KIND_SENT, incident_id, call, actor, {
            "neighbour": neighbour.key, "reference": posted.reference, "url": posted.url})
        return reply(incident_id, neighbour, call, posted)

    async def _record(self, kind: str, incident_id: int, call: str, actor: str,
                      detail: Mapping[str, Any]) -> None:
        at = utcnow()
        try:
            self.steps(CallStep(call, at.timestamp(), kind, {"incident": incident_id,
                                                             **detail}))
        except (ValueError, RuntimeError):  # unstorable, or the record keeper is stopping
            log.exception("call step %s not recorded", kind, extra={"call_id": call})
        await self.audit.write(actor, kind, "incident", str(incident_id),
                               {"call": call, **detail})


def reply(incident_id: int, neighbour: Neighbour, call: str, posted: Posted
          ) -> dict[str, Any]:
    return {"incident_id": incident_id, "neighbour": neighbour.key, "name": neighbour.name,
            "call": call, "reference": posted.reference, "url": posted.url,
            "call_info": posted.call_info}
