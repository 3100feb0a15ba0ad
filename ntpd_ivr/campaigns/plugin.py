"""Public warning campaigns as a plugin: outbound calls, paced behind the 112 queues."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ntpd_ivr.campaigns import http
from ntpd_ivr.campaigns.service import WarningService
from ntpd_ivr.core import Core, Key, Plugin, Stop

WARNINGS = Key("warnings", WarningService)


def load(core: Core) -> Plugin:
    def publish(kind: str, data: Mapping[str, Any]) -> None:
        core.hub.publish(http.TOPIC, kind, data)

    warnings = WarningService(
        core.settings.warnings, core.engine, core.ami, core.records, core.queue_monitor,
        publish=publish,
        watched_queues=lambda: {r.queue for r in core.routing().regions.values()},
        routing=core.routing)
    core.services.provide(WARNINGS, warnings)

    def add_routes(app: web.Application) -> None:
        http.add_routes(app, warnings)

    return Plugin("warnings", routes=add_routes, on_ami_event=warnings.on_event,  # never waits
                  start=warnings.start, stop=warnings.stop, stop_phase=Stop.OUTBOUND,
                  health=warnings.state, topics={http.TOPIC: "supervisor"})
