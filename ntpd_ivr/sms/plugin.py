"""SMS through Kannel as a plugin (docs/sms.md): the receiver for smsbox on its own
listener, the outbox's retry task on the core's supervisor, and a status watch (Kannel
reachable, how many SMS wait) for /health and the desk. Off (nothing at all, not even a
/health key) unless `sms.enabled`.

Each incoming SMS goes on the bus as SmsReceived (awaited, in the inbox's transaction)
and SmsStored; the SMS domain reads none of them (the location domain reads the AML ones).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ntpd_ivr.core import Core, Key, Plugin, Start, Stop
from ntpd_ivr.sms.events import SmsGatewayChanged
from ntpd_ivr.sms.gateway import KannelGateway
from ntpd_ivr.sms.http import receiver_app
from ntpd_ivr.sms.service import Inbox, Outbox
from ntpd_ivr.web.listener import Listener

log = logging.getLogger(__name__)

OUTBOX = Key("sms_outbox", Outbox)  # the location link queues its SMS here
STATUS_SECONDS = 5.0  # how often Kannel's status and the waiting count are read


class GatewayWatch:
    """Kannel's state and the outbox's waiting count, read every STATUS_SECONDS; a change
    goes on the bus (SmsGatewayChanged) for the desk."""

    def __init__(self, gateway: KannelGateway, outbox: Outbox,
                 publish: Callable[[SmsGatewayChanged], None]) -> None:
        self.gateway, self.outbox, self.publish = gateway, outbox, publish
        self.up: bool | None = None
        self.waiting = 0
        self.detail = ""

    async def check(self) -> None:
        up, detail = await self.gateway.probe()
        if up and self.outbox.gateway_ok is False:  # running, yet sendsms refused us
            up, detail = False, self.outbox.last_error
        waiting = (await self.outbox.status()).waiting
        if (up, waiting, detail) != (self.up, self.waiting, self.detail):
            if up != self.up:
                (log.info if up else log.warning)("SMS gateway %s%s", "up" if up else "down",
                                                  f": {detail}" if detail else "")
            self.up, self.waiting, self.detail = up, waiting, detail
            self.publish(SmsGatewayChanged(up, waiting, detail))

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # the database away: the next round tells
                log.exception("SMS gateway status unreadable")
            await asyncio.sleep(STATUS_SECONDS)

    def state(self) -> dict[str, Any]:
        return {"kannel": self.up, "waiting": self.waiting,
                "detail": self.detail}


def load(core: Core) -> Plugin:
    settings = core.settings.sms
    if not settings.enabled:
        return Plugin("sms")  # off: no part of /health either
    receiver_url = f"http://{settings.receiver_host}:{settings.receiver_port}"
    gateway = KannelGateway(settings, receiver_url)
    outbox = Outbox(core.engine, gateway, settings, on_status=core.bus.publish)
    inbox = Inbox(core.engine, on_received=core.bus.call, on_stored=core.bus.publish)
    receiver = Listener(receiver_app(inbox, outbox, settings.shared_secret),
                        settings.receiver_host, settings.receiver_port)
    watch = GatewayWatch(gateway, outbox, core.bus.publish)
    core.services.provide(OUTBOX, outbox)
    tasks: list[asyncio.Task[Any]] = []

    async def start() -> None:
        await receiver.start()
        tasks.append(core.tasks.spawn(outbox.run(), "sms-outbox"))
        tasks.append(core.tasks.spawn(watch.run(), "sms-status"))
        log.info("SMS receiver for Kannel on %s, sendsms at %s", receiver_url, gateway.url)

    async def stop() -> None:
        # Nothing comes in any more, then nothing goes out; what waits stays in the outbox.
        await receiver.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await gateway.close()

    def health() -> dict[str, Any]:
        return {**watch.state(), "receiver": receiver.serving, "inbox": dict(inbox.counts)}

    return Plugin("sms", start=start, stop=stop, start_phase=Start.SERVICES,
                  stop_phase=Stop.OUTBOUND, health=health)
