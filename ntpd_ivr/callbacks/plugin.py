"""The callback list as a plugin: missed calls called back (docs/supervisor.md)."""

from __future__ import annotations

from aiohttp import web

from ntpd_ivr.callbacks import http
from ntpd_ivr.callbacks.events import CallbacksChanged
from ntpd_ivr.callbacks.service import CallbackService
from ntpd_ivr.core import Core, Key, Plugin
from ntpd_ivr.wall.events import WallCallEnded
from ntpd_ivr.wall.plugin import CALLBACK_SUMMARY, WALL
from ntpd_ivr.workspace.plugin import WORKSPACE

CALLBACKS = Key("callbacks", CallbackService)


def load(core: Core) -> Plugin:
    bus = core.bus
    callbacks = CallbackService(core.engine, core.ami, core.settings.callbacks,
                                changed=lambda: bus.publish(CallbacksChanged()),
                                routing=core.routing)
    core.services.provide(CALLBACKS, callbacks)
    core.services.provide(CALLBACK_SUMMARY, callbacks.summary)
    bus.subscribe(WallCallEnded, lambda _: callbacks.call_ended())

    def add_routes(app: web.Application) -> None:
        wall = core.services[WALL]
        http.routes(callbacks, lambda: wall.state.takers.keys(),
                    core.services[WORKSPACE].endpoint_of_user)(app)

    async def start() -> None:
        callbacks.start()

    return Plugin("callbacks", routes=add_routes, on_ami_event=callbacks.on_event,
                  start=start)
