"""The caller's location from their own phone, as a plugin: AML SMS (from the SMS
domain's SmsReceived), the ELS HTTPS receiver on its own listener (location.els_*), every
fix kept and matched to its call (ntpd_ivr/location/fixes.py), and FixArrived on the bus
for the desk. Provides FIXES: the workspace's screen pop reads a call's fixes from it."""

from __future__ import annotations

import logging
from typing import Any

from ntpd_ivr.core import Core, Key, Plugin, Start, Stop
from ntpd_ivr.location.els import ElsReceiver, els_app
from ntpd_ivr.location.fixes import Fixes
from ntpd_ivr.settings import els_credentials
from ntpd_ivr.sms.events import SmsReceived, SmsStored
from ntpd_ivr.web.listener import Listener

log = logging.getLogger(__name__)

FIXES = Key("location_fixes", Fixes)


def load(core: Core) -> Plugin:
    settings = core.settings.location
    fixes = Fixes(core.engine, settings.match_window_seconds, publish=core.bus.publish)
    core.services.provide(FIXES, fixes)
    core.bus.subscribe_awaited(SmsReceived, fixes.on_sms)
    core.bus.subscribe(SmsStored, fixes.on_sms_stored)
    els: ElsReceiver | None = None
    listener: Listener | None = None
    if settings.els_enabled:
        els = ElsReceiver(fixes.receive, els_credentials(settings),
                          rate_per_minute=settings.els_rate_per_minute,
                          max_body_bytes=settings.els_max_body_bytes)
        listener = Listener(els_app(els), settings.els_host, settings.els_port)

    async def start() -> None:
        assert listener is not None
        await listener.start()
        log.info("ELS HTTPS receiver on http://%s:%d/els (TLS in front of it)",
                 listener.host, listener.port)

    async def stop() -> None:
        assert listener is not None
        await listener.stop()

    def health() -> dict[str, Any]:
        return {"fixes": dict(fixes.counts),
                "els": ({"serving": listener.serving, "port": listener.port, **els.state()}
                        if listener is not None and els is not None else {"enabled": False})}

    # Without the ELS listener nothing starts or stops: the AML SMS come through the bus.
    return Plugin("location", start=start if listener else None,
                  stop=stop if listener else None, start_phase=Start.SERVICES,
                  stop_phase=Stop.WEB,
                  health=health if listener or core.settings.sms.enabled else None)
