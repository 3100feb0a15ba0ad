"""The call-taker's desk as a plugin: presence, screen pops, wrap-up (docs/workspace.md)."""

from __future__ import annotations

from typing import Any

from ntpd_ivr.core import Core, Key, Plugin
from ntpd_ivr.dispatch.events import DispatchFailed
from ntpd_ivr.incidents.events import CallDisposed
from ntpd_ivr.location.events import FixArrived
from ntpd_ivr.location.model import DeskFix
from ntpd_ivr.sms.events import SmsGatewayChanged
from ntpd_ivr.workspace import http
from ntpd_ivr.workspace.model import TOPIC, TOPICS
from ntpd_ivr.workspace.service import FixesLookup, TransferLookup, WorkspaceService
from ntpd_ivr.workspace.store import DbStore

WORKSPACE = Key("workspace", WorkspaceService)
# A call's fixes for its screen pop, provided by the location plugin (loaded later) and
# read at each pop: the workspace is never patched after it is built.
POP_FIXES: Key[FixesLookup] = Key("pop-fixes")
# A transferred call's incident (the EIDO its first center sent), provided by the transfer
# plugin (loaded later), read at each pop of a transferred call.
POP_TRANSFER: Key[TransferLookup] = Key("pop-transfer")
# Provided (True) by the location plugin when the location link is on: the desk's button.
LOCATION_LINK: Key[bool] = Key("location-link")


def load(core: Core) -> Plugin:
    routing = core.routing
    async def pop_fixes(uniqueid: str, caller: str | None, arrived_at: Any) -> list[DeskFix]:
        lookup = core.services.get(POP_FIXES)
        return await lookup(uniqueid, caller, arrived_at) if lookup is not None else []

    async def pop_transfer(uniqueid: str) -> dict[str, Any] | None:
        lookup = core.services.get(POP_TRANSFER)
        return await lookup(uniqueid) if lookup is not None else None

    def location_link() -> bool:
        offered: bool | None = core.services.get(LOCATION_LINK)
        return offered is True

    workspace = WorkspaceService(
        core.ami, DbStore(core.engine), core.users, core.hub,
        lambda: sorted({r.queue for r in routing().regions.values()}),
        wrapup_limit=lambda: routing().wrapup_limit_seconds, routing=routing,
        fixes=pop_fixes, location_link=location_link, transfer=pop_transfer)
    core.services.provide(WORKSPACE, workspace)
    core.bus.subscribe(FixArrived, lambda e: workspace.add_fix(e.call, e.fix))
    core.bus.subscribe(SmsGatewayChanged, lambda e: workspace.sms_status(e.up, e.waiting))
    core.bus.subscribe(CallDisposed, lambda e: workspace.on_disposition(e.call))

    def dispatch_failed(event: DispatchFailed) -> None:
        if event.user is not None:  # the call-taker who dispatched, on their own screen
            core.hub.publish(TOPIC, event.kind, event.data, user=event.user)
    core.bus.subscribe(DispatchFailed, dispatch_failed)
    # Never waits: screen pops run in tasks of their own.
    return Plugin("workspace", routes=http.routes(workspace), on_ami_event=workspace.on_event,
                  on_ami_login=workspace.on_login, topics=TOPICS)
