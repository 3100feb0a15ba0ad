"""Dispatch as a plugin: the telephony of a connect dispatch (the agency's trunks dialled
into the call), and the agencies' screens pushed on every dispatch change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ntpd_ivr.core import Core, Key, Plugin, Stop
from ntpd_ivr.dispatch.events import DispatchFailed
from ntpd_ivr.dispatch.service import ConnectDispatcher
from ntpd_ivr.incidents import http as incidents_http
from ntpd_ivr.incidents.events import DispatchChanged
from ntpd_ivr.incidents.plugin import INCIDENTS

DISPATCHER = Key("dispatcher", ConnectDispatcher)
TOPIC = "dispatches"  # the live hub topic of the agencies' screens (each its own)


def load(core: Core) -> Plugin:
    bus, hub = core.bus, core.hub

    def failed(kind: str, data: Mapping[str, Any], user: str | None) -> None:
        bus.publish(DispatchFailed(kind, data, user))

    dispatcher = ConnectDispatcher(core.ami, core.services[INCIDENTS], core.routing,
                                   core.records.submit, failed,
                                   prompts_dir=core.settings.ivr.prompts_dir)
    core.services.provide(DISPATCHER, dispatcher)
    # To that agency's screens alone.
    bus.subscribe(DispatchChanged, lambda e: hub.publish(TOPIC, e.kind, e.data,
                                                         agency=e.agency))
    bus.subscribe(DispatchFailed, lambda e: hub.publish(TOPIC, e.kind, e.data,
                                                        agency=e.data["agency"]))

    def add_routes(app: web.Application) -> None:
        app[incidents_http.CONNECT] = dispatcher.connect  # POST .../dispatches, mode connect

    # AMI events first, before the recorder waits: its work runs in tasks of its own.
    return Plugin("dispatch", routes=add_routes, on_ami_event=dispatcher.on_event,
                  on_ami_login=dispatcher.on_login, stop=dispatcher.stop,
                  stop_phase=Stop.OUTBOUND, topics={TOPIC: "agency"})
