"""Receiving transfers from neighbouring 112 centers as a plugin (issue 23, item 3): the
listener that takes their EIDO (receive.py), the link of that EIDO to the call the IVR
sees on the neighbour's trunk (ivr's TRANSFER_LINK), and the incident on the desk's pop
(workspace's POP_TRANSFER). The trunks and their context: pjsip-neighbours.conf and
dialplan/ntpd-neighbour.conf (docs/eido.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ntpd_ivr.core import Core, Plugin, Start, Stop
from ntpd_ivr.eido.model import export
from ntpd_ivr.eido.plugin import EIDO
from ntpd_ivr.incidents import http as incidents_http
from ntpd_ivr.ivr.plugin import TRANSFER_LINK
from ntpd_ivr.transfer import http
from ntpd_ivr.transfer.call import TransferCaller
from ntpd_ivr.transfer.persist import TransferOutStore
from ntpd_ivr.transfer.receive import (
    TransferReceiver,
    TransferStore,
    neighbours_of,
    transfer_app,
)
from ntpd_ivr.transfer.sender import TransferSender
from ntpd_ivr.web.listener import Listener
from ntpd_ivr.workspace.model import TOPIC as WORKSPACE_TOPIC
from ntpd_ivr.workspace.plugin import POP_TRANSFER

log = logging.getLogger(__name__)


def load(core: Core) -> Plugin:
    store = TransferStore(core.engine)
    # A call on a neighbour's trunk is linked to the EIDO its center sent, and popped with
    # it, whether or not this controller takes EIDOs itself (the other node may).
    core.services.provide(TRANSFER_LINK, store)

    async def pop_transfer(uniqueid: str) -> dict[str, Any] | None:
        """The pop names the sending center as our routing config does for the neighbour
        its token proved (`neighbour_name`), never as its EIDO calls itself."""
        found = await store.for_call(uniqueid)
        if found is not None:
            known = neighbours_of(core.routing()).get(found["neighbour"])
            found["neighbour_name"] = known.name if known is not None else found["neighbour"]
        return found

    core.services.provide(POP_TRANSFER, pop_transfer)

    async def incident_eido(incident_id: int) -> tuple[str, dict[str, Any]] | None:
        subscriptions = core.services[EIDO]  # the eido plugin's: its source, our domain
        facts = await subscriptions.source.facts(incident_id)
        if facts is None:
            return None
        return facts.region, export(facts, subscriptions.center(facts.region))

    # Sending (item 2): the desk's transfer, whether or not this controller takes EIDOs.
    settings = core.settings.transfer

    def to_desk(kind: str, data: Mapping[str, Any], user: str) -> None:
        core.hub.publish(WORKSPACE_TOPIC, kind, data, user=user)

    caller = TransferCaller(core.ami, core.routing, core.records.submit, core.audit, to_desk,
                            prompts_dir=core.settings.ivr.prompts_dir,
                            ring_seconds=settings.ring_seconds,
                            accept_seconds=settings.accept_seconds,
                            rows=TransferOutStore(core.engine,
                                                  node=core.settings.ami_peer.local_name))
    sender = TransferSender(incident_eido, core.routing, core.audit, core.records.submit,
                            caller=caller)

    async def stop_sending() -> None:
        await caller.stop()
        await sender.stop()

    def add_routes(app: web.Application) -> None:
        http.add_routes(app, sender, incidents_http.may_act_on)

    async def resume() -> None:  # bounded, and never fails the start (persist.py)
        resumed = await caller.resume()
        if resumed:
            log.info("%d transfer(s) in progress resumed", resumed)

    if not settings.enabled:
        return Plugin("transfer", routes=add_routes, start=resume, stop=stop_sending,
                      start_phase=Start.SERVICES, stop_phase=Stop.OUTBOUND,
                      on_ami_event=caller.on_event)
    receiver = TransferReceiver(store.store, core.routing, rate_per_minute=settings.rate_per_minute)
    listener = Listener(transfer_app(receiver), settings.host, settings.port)

    async def start() -> None:
        await resume()
        await listener.start()
        log.info("transfer EIDO listener on http://%s:%d", listener.host, listener.port)

    def health() -> dict[str, Any]:
        return {"listener": f"{listener.host}:{listener.port}", "serving": listener.serving,
                **receiver.state()}

    async def stop() -> None:
        await listener.stop()
        await stop_sending()

    return Plugin("transfer", routes=add_routes, start=start, stop=stop,
                  start_phase=Start.SERVICES, stop_phase=Stop.WEB, health=health,
                  on_ami_event=caller.on_event)
