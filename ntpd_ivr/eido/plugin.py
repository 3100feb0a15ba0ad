"""EIDO as a plugin (issue 23): /api/v1/incidents/{id}/eido and the EIDO subscriptions'
WebSocket; every IncidentsChanged on the bus becomes a notification to the subscribers in
that incident's scope (docs/eido.md)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from ntpd_ivr.core import Core, Key, Plugin, Stop
from ntpd_ivr.eido import http
from ntpd_ivr.eido.repository import EidoSource, incident_of
from ntpd_ivr.eido.service import Subscriptions
from ntpd_ivr.incidents.events import IncidentsChanged

EIDO = Key("eido", Subscriptions)


def center_domain(link_base_url: str) -> str:
    """The host name our EIDO ids end with: the center's public host (the location link
    page's, location.link_base_url), else "localhost"."""
    return urlsplit(link_base_url).hostname or "localhost"


def load(core: Core) -> Plugin:
    source = EidoSource(core.engine, core.routing)
    subscriptions = Subscriptions(source, core.routing,
                                  center_domain(core.settings.location.link_base_url))
    core.services.provide(EIDO, subscriptions)

    def changed(event: IncidentsChanged) -> None:
        incident_id = incident_of(event.kind, event.data)
        if incident_id is not None and subscriptions.subscribers:
            core.tasks.spawn(subscriptions.changed(incident_id), f"eido notify {incident_id}")

    core.bus.subscribe(IncidentsChanged, changed)

    def add_routes(app: web.Application) -> None:
        http.add_routes(app, subscriptions)

    # Its subscribers' sockets close with the web.
    return Plugin("eido", routes=add_routes, stop=subscriptions.close_all,
                  stop_phase=Stop.WEB)
