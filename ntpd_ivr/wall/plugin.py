"""The supervisor's wall as a plugin: live calls, queues and call-takers (docs/supervisor.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ntpd_ivr.alerts.events import AlertsChanged
from ntpd_ivr.callbacks.events import CallbacksChanged
from ntpd_ivr.core import Core, Key, Plugin
from ntpd_ivr.dispatch.events import DispatchFailed
from ntpd_ivr.incidents.events import IncidentsChanged
from ntpd_ivr.ivr.events import CallOverflowed
from ntpd_ivr.texts.events import TextsChanged
from ntpd_ivr.wall import http
from ntpd_ivr.wall.events import WallCallEnded
from ntpd_ivr.wall.model import TOPICS, EndedCall
from ntpd_ivr.wall.service import WallService
from ntpd_ivr.wall.store import WallStore
from ntpd_ivr.workspace.model import overflow_note

WALL = Key("wall", WallService)
# The callback list's summary on the wall, read when the wall is pushed (callbacks/plugin).
CALLBACK_SUMMARY: Key[Callable[[], Mapping[str, Any]]] = Key("callback-summary")
# The text sessions waiting for a call-taker (texts/plugin), read when the wall is pushed.
TEXT_SUMMARY: Key[Callable[[], Mapping[str, Any]]] = Key("text-summary")
# The CAP alerts and surge mode on the wall, read when the wall is pushed (alerts/plugin).
ALERT_SUMMARY: Key[Callable[[], Mapping[str, Any]]] = Key("alert-summary")


def load(core: Core) -> Plugin:
    users, bus = core.users, core.bus

    def summary_of(key: Key[Callable[[], Mapping[str, Any]]]
                   ) -> Callable[[], Mapping[str, Any]]:
        """Another domain's block of the wall, read when the wall is pushed (it loads
        later, or not at all: then empty)."""
        def read() -> Mapping[str, Any]:
            summary = core.services.get(key)
            return summary() if summary is not None else {}
        return read

    def call_ended(ended: EndedCall) -> None:
        bus.publish(WallCallEnded(ended))

    wall = WallService(
        core.ami, WallStore(core.engine), core.hub, core.settings.wall,
        known_takers=lambda: {u.sip_endpoint for u in users.users.values() if u.sip_endpoint},
        ami_connected=lambda: core.ami.connected, callbacks=summary_of(CALLBACK_SUMMARY),
        texts=summary_of(TEXT_SUMMARY), alerts=summary_of(ALERT_SUMMARY),
        on_call_ended=call_ended)
    core.services.provide(WALL, wall)
    bus.subscribe(IncidentsChanged, lambda _: wall.incidents_changed())
    bus.subscribe(DispatchFailed, lambda _: wall.incidents_changed())
    bus.subscribe(CallbacksChanged, lambda _: wall.changed())
    bus.subscribe(TextsChanged, lambda _: wall.changed())
    bus.subscribe(AlertsChanged, lambda _: wall.alerts_changed())
    bus.subscribe(CallOverflowed, lambda event: wall.overflowed(event.uniqueid, overflow_note(
        core.routing(), {"trunk": event.trunk, "overflow_region": event.overflow_region})))

    async def start() -> None:
        wall.start()

    # Never waits either: a dict entry, and a timer at most.
    return Plugin("wall", routes=http.routes(wall), on_ami_event=wall.on_event,
                  on_ami_login=wall.on_login, start=start, topics=TOPICS)
