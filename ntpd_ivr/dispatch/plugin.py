"""Dispatch as a plugin: each dispatch's record and state over HTTP, the telephony of a
connect dispatch (the agency's trunks dialled into the call), and the agencies' screens
pushed on every dispatch change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ntpd_ivr.core import Core, Key, Plugin, Stop
from ntpd_ivr.dispatch import http
from ntpd_ivr.dispatch.events import DispatchChanged, DispatchFailed
from ntpd_ivr.dispatch.records import DispatchService
from ntpd_ivr.dispatch.service import ConnectDispatcher
from ntpd_ivr.incidents import http as incidents_http
from ntpd_ivr.incidents.events import IncidentsChanged

DISPATCHES = Key("dispatches", DispatchService)
DISPATCHER = Key("dispatcher", ConnectDispatcher)
TOPIC = "dispatches"  # the live hub topic of the agencies' screens (each its own)
# Who acts for which agency and on which call: the incidents' rule, one for both domains.
ACCESS = http.Access(incidents_http.agency_scope, incidents_http.agency_filter,
                     incidents_http.may_act_on)


def load(core: Core) -> Plugin:
    bus, hub = core.bus, core.hub

    def failed(kind: str, data: Mapping[str, Any], user: str | None) -> None:
        bus.publish(DispatchFailed(kind, data, user))

    def changed(kind: str, data: Mapping[str, Any]) -> None:
        # The call-takers' screens and the wall follow dispatches with the incidents.
        bus.publish(IncidentsChanged(kind, data))
        bus.publish(DispatchChanged(kind, data["agency"], data))

    dispatches = DispatchService(core.engine, core.routing, publish=changed)
    core.services.provide(DISPATCHES, dispatches)
    dispatcher = ConnectDispatcher(core.ami, dispatches, core.routing,
                                   core.records.submit, failed,
                                   prompts_dir=core.settings.ivr.prompts_dir)
    core.services.provide(DISPATCHER, dispatcher)
    # To that agency's screens alone.
    bus.subscribe(DispatchChanged, lambda e: hub.publish(TOPIC, e.kind, e.data,
                                                         agency=e.agency))
    bus.subscribe(DispatchFailed, lambda e: hub.publish(TOPIC, e.kind, e.data,
                                                        agency=e.data["agency"]))

    def add_routes(app: web.Application) -> None:
        http.add_routes(app, dispatches, ACCESS, connect=dispatcher.connect)

    # AMI events first, before the recorder waits: its work runs in tasks of its own.
    return Plugin("dispatch", routes=add_routes, on_ami_event=dispatcher.on_event,
                  on_ami_login=dispatcher.on_login, stop=dispatcher.stop,
                  stop_phase=Stop.OUTBOUND, topics={TOPIC: "agency"})
