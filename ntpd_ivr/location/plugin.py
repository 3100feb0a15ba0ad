"""The caller's location from their own phone, as a plugin: AML SMS (from the SMS
domain's SmsReceived), the ELS HTTPS receiver on its own listener (location.els_*), the
location link by SMS (its public page on its own listener, location.link_*; the desk's
button at POST /api/location/link), every fix kept and matched to its call
(ntpd_ivr/location/fixes.py), and FixArrived on the bus for the desk. Gives the
workspace's screen pop its fixes (loaded after the workspace and the SMS plugin)."""

from __future__ import annotations

import logging
from typing import Any

from ntpd_ivr.calls.repository import CallsRepository
from ntpd_ivr.core import Core, Key, Plugin, Start, Stop
from ntpd_ivr.errors import Refusal
from ntpd_ivr.location import http
from ntpd_ivr.location.els import ElsReceiver, els_app
from ntpd_ivr.location.fixes import Fixes
from ntpd_ivr.location.link import Links, link_app
from ntpd_ivr.settings import els_credentials
from ntpd_ivr.sms.events import SmsReceived, SmsStored
from ntpd_ivr.sms.plugin import OUTBOX
from ntpd_ivr.web.listener import Listener
from ntpd_ivr.workspace.plugin import WORKSPACE

log = logging.getLogger(__name__)

FIXES = Key("location_fixes", Fixes)


def load(core: Core) -> Plugin:
    settings = core.settings.location
    fixes = Fixes(core.engine, settings.match_window_seconds, publish=core.bus.publish)
    core.services.provide(FIXES, fixes)
    core.bus.subscribe_awaited(SmsReceived, fixes.on_sms)
    core.bus.subscribe(SmsStored, fixes.on_sms_stored)
    workspace = core.services.get(WORKSPACE)
    if workspace is not None:  # the screen pop's fixes
        workspace.fixes = fixes.for_call
    listeners: list[Listener] = []
    els: ElsReceiver | None = None
    if settings.els_enabled:
        els = ElsReceiver(fixes.receive, els_credentials(settings),
                          rate_per_minute=settings.els_rate_per_minute,
                          max_body_bytes=settings.els_max_body_bytes)
        listeners.append(Listener(els_app(els), settings.els_host, settings.els_port))
    routes = None
    outbox = core.services.get(OUTBOX)
    if settings.link_enabled and outbox is not None and workspace is not None:
        links = Links(core.engine, outbox.enqueue, fixes.receive,
                      base_url=settings.link_base_url, minutes=settings.link_minutes)
        listeners.append(Listener(link_app(links, settings.link_rate_per_minute),
                                  settings.link_host, settings.link_port))
        calls = CallsRepository(core.engine)
        desk = workspace

        async def call_of(call: str, user: str) -> str | None:
            """The caller's number of this user's call; a Refusal if it is not theirs."""
            row = await calls.row(call)
            if row is None:
                raise Refusal(f"no call {call}", status=404, error="not-found")
            endpoint = desk.endpoint_of_user(user)
            if endpoint is None or await desk.answered_by(call) != endpoint:
                raise Refusal("the call is not on your phone", status=403, error="not-yours")
            number = row.get("caller_number")
            return str(number) if number else None
        routes = http.routes(links, call_of)
        workspace.location_link = True
    elif settings.link_enabled:
        log.warning("location.link_enabled but SMS is off: no location link")

    async def start() -> None:
        for listener in listeners:
            await listener.start()
            log.info("location listener on http://%s:%d", listener.host, listener.port)

    async def stop() -> None:
        for listener in listeners:
            await listener.stop()

    def health() -> dict[str, Any]:
        return {"fixes": dict(fixes.counts),
                "listeners": {f"{lst.host}:{lst.port}": lst.serving for lst in listeners},
                "els": els.state() if els is not None else {"enabled": False}}

    # Without a listener nothing starts or stops: the AML SMS come through the bus.
    return Plugin("location", routes=routes, start=start if listeners else None,
                  stop=stop if listeners else None, start_phase=Start.SERVICES,
                  stop_phase=Stop.WEB,
                  health=health if listeners or core.settings.sms.enabled else None)
