"""Incidents as a plugin: incidents and dispositions over HTTP; each change goes on the bus
(the screens, the wall, the wrap-up, the strikes). Dispatches are ntpd_ivr/dispatch's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from ntpd_ivr.core import Core, Key, Plugin
from ntpd_ivr.dispatch.events import DispatchFailed
from ntpd_ivr.incidents import http
from ntpd_ivr.incidents.events import CallDisposed, DispositionWritten, IncidentsChanged
from ntpd_ivr.incidents.rights import CallRights
from ntpd_ivr.incidents.service import IncidentService
from ntpd_ivr.workspace.plugin import WORKSPACE

INCIDENTS = Key("incidents", IncidentService)
TOPIC = "incidents"  # the live hub topic of incident changes (call-takers)


def load(core: Core) -> Plugin:
    bus = core.bus

    def changed(kind: str, data: Mapping[str, Any]) -> None:
        bus.publish(IncidentsChanged(kind, data))
        if kind == "call.disposition":  # the call-taker's wrap-up ends
            bus.publish(CallDisposed(data["call"]))

    async def disposition_written(conn: AsyncConnection, call: str, disposition: str,
                                  actor: str, at: datetime) -> None:
        await bus.call(DispositionWritten(conn, call, disposition, actor, at))

    incidents = IncidentService(core.engine, core.routing, publish=changed,
                                on_disposition=disposition_written)
    core.services.provide(INCIDENTS, incidents)
    bus.subscribe(IncidentsChanged, lambda e: core.hub.publish(TOPIC, e.kind, e.data))
    bus.subscribe(DispatchFailed, lambda e: core.hub.publish(TOPIC, e.kind, e.data))

    def add_routes(app: web.Application) -> None:
        # Whose call it is: the workspace knows which phone answered it.
        rights = CallRights(core.services[WORKSPACE].answered_by, core.audit)
        http.add_routes(app, incidents, rights=rights)

    return Plugin("incidents", routes=add_routes, topics={TOPIC: "calltaker"})
