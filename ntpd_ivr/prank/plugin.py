"""The prank policy as a plugin: silent-call signals from AMI, strikes written with a
disposition (in its transaction), the strike view the IVR's gate reads."""

from __future__ import annotations

from ntpd_ivr.core import Core, Key, Plugin, Start, Stop
from ntpd_ivr.incidents.events import DispositionWritten
from ntpd_ivr.prank import http
from ntpd_ivr.prank.service import PrankService

PRANK = Key("prank", PrankService)


def load(core: Core) -> Plugin:
    prank = PrankService(core.engine, core.routing, core.records)
    core.services.provide(PRANK, prank)

    async def disposition(event: DispositionWritten) -> None:
        await prank.on_disposition(event.conn, event.call, event.disposition, event.actor,
                                   event.at)
    core.bus.subscribe_awaited(DispositionWritten, disposition)
    # The strike view: unavailable (strike-free) if no database; started before FastAGI.
    return Plugin("prank", routes=http.routes(prank), on_ami_event=prank.on_event,
                  start=prank.start, start_phase=Start.STRIKES,
                  stop=prank.stop, stop_phase=Stop.STRIKES, health=prank.state)
