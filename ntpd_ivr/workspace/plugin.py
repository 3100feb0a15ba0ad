"""The call-taker's desk as a plugin: presence, screen pops, wrap-up (docs/workspace.md)."""

from __future__ import annotations

from ntpd_ivr.core import Core, Key, Plugin
from ntpd_ivr.dispatch.events import DispatchFailed
from ntpd_ivr.incidents.events import CallDisposed
from ntpd_ivr.location.events import FixArrived
from ntpd_ivr.sms.events import SmsGatewayChanged
from ntpd_ivr.workspace import http
from ntpd_ivr.workspace.model import TOPIC, TOPICS
from ntpd_ivr.workspace.service import WorkspaceService
from ntpd_ivr.workspace.store import DbStore

WORKSPACE = Key("workspace", WorkspaceService)


def load(core: Core) -> Plugin:
    routing = core.routing
    workspace = WorkspaceService(
        core.ami, DbStore(core.engine), core.users, core.hub,
        lambda: sorted({r.queue for r in routing().regions.values()}),
        wrapup_limit=lambda: routing().wrapup_limit_seconds, routing=routing)
    # The location plugin (loaded later) gives the pop its fixes: workspace.fixes.
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
