"""112 by text as a plugin (docs/texts.md): SMS conversations on the call-taker's desk.

Loaded after sms and location: it reads the SMS outbox, the workspace (who is logged in to
which queue), the incidents' disposition path and the callbacks' path from the core's
registry. An incoming SMS reaches it on the bus (SmsReceived, awaited in the inbox's
transaction, after the location domain's AML reader; then SmsStored); a reply's delivery
as SmsDelivery; a location fix of a text session's number as FixArrived.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ntpd_ivr.callbacks.plugin import CALLBACKS
from ntpd_ivr.calls.repository import CallsRepository
from ntpd_ivr.core import Core, Key, Plugin, Start, Stop
from ntpd_ivr.incidents import schemas
from ntpd_ivr.incidents.plugin import INCIDENTS
from ntpd_ivr.location.events import FixArrived
from ntpd_ivr.prank.plugin import PRANK
from ntpd_ivr.prank.policy import queue_priority
from ntpd_ivr.routing.model import UNCLASSIFIED, Category
from ntpd_ivr.sms.events import SmsDelivery, SmsReceived, SmsStored
from ntpd_ivr.sms.plugin import OUTBOX
from ntpd_ivr.texts import http
from ntpd_ivr.texts.events import TextsChanged
from ntpd_ivr.texts.model import is_text_session
from ntpd_ivr.texts.service import MAX_HISTORY, TOPIC, TextService
from ntpd_ivr.wall.plugin import TEXT_SUMMARY
from ntpd_ivr.workspace.model import history_entry
from ntpd_ivr.workspace.plugin import WORKSPACE

TEXTS = Key("texts", TextService)


def load(core: Core) -> Plugin:
    workspace = core.services[WORKSPACE]
    outbox = core.services.get(OUTBOX)
    calls = CallsRepository(core.engine)

    def takers() -> Sequence[tuple[str, str | None, Sequence[str]]]:
        core.users.refresh()
        return [(user.name, user.sip_endpoint,
                 [m.queue for m in workspace.presence_of(user.sip_endpoint).memberships]
                 if user.sip_endpoint else [])
                for user in core.users.users.values()]

    async def history(number: str, uniqueid: str) -> list[dict[str, Any]]:
        rows = await calls.caller_history(number, before_uniqueid=uniqueid, limit=MAX_HISTORY)
        return [history_entry(row) for row in rows]

    async def dispose(uniqueid: str, body: Mapping[str, Any], actor: str) -> dict[str, Any]:
        # The incidents' own path: its audit entry, the prank strikes of the number
        # (DispositionWritten), the wall's and the screens' news.
        return await core.services[INCIDENTS].set_disposition(
            uniqueid, schemas.disposition(body), actor)

    def standing(number: str, region: str, priority: int) -> tuple[int, dict[str, Any]]:
        """The prank policy's action for the number, as for a call (in memory): its
        priority among the region's sessions and its standing for the desk."""
        prank = core.services.get(PRANK)
        if prank is None:
            return priority, {}
        action = prank.action_for(number, region, legacy=False)
        if action.level == "none":
            return priority, {}
        config = core.routing()
        unclassified = config.categories.get(UNCLASSIFIED)
        found, _ = queue_priority(Category(config.texts.category, priority),
                                  unclassified.priority if unclassified else priority,
                                  action, prank.policy(region))
        return found, action.as_detail()

    async def escalate(number: str, uniqueid: str, actor: str,
                       endpoint: str) -> dict[str, Any]:
        return await core.services[CALLBACKS].escalate(number, uniqueid, actor, endpoint)

    service = TextService(core.engine, core.routing, core.hub.publish, takers,
                          enqueue=outbox.enqueue if outbox is not None else None,
                          history=history, dispose=dispose, escalate=escalate,
                          endpoint_of=workspace.endpoint_of_user,
                          changed=lambda: core.bus.publish(TextsChanged()),
                          standing=standing)
    core.services.provide(TEXTS, service)
    core.services.provide(TEXT_SUMMARY, service.wall_summary)
    core.bus.subscribe_awaited(SmsReceived, service.on_sms)
    core.bus.subscribe(SmsStored, service.on_sms_stored)
    core.bus.subscribe(SmsDelivery, service.on_delivery)

    def fix_arrived(event: FixArrived) -> None:
        """A fix of a text session's number, to the call-taker who took it (the workspace
        pushes those of the calls on its screens)."""
        session = service.sessions.get(event.call) if is_text_session(event.call) else None
        if session is not None and session.taken_by is not None:
            core.hub.publish(TOPIC, "location.fix", {"call": event.call,
                                                     "fix": event.fix.as_json()},
                             user=session.taken_by)
    core.bus.subscribe(FixArrived, fix_arrived)

    async def start() -> None:
        await service.load()
        service.start()

    if outbox is None:  # SMS off: no session can open; the desk's routes answer all the same
        return Plugin("texts", routes=http.routes(service))
    return Plugin("texts", routes=http.routes(service), start=start, stop=service.stop,
                  start_phase=Start.SERVICES, stop_phase=Stop.OUTBOUND, health=service.health)
