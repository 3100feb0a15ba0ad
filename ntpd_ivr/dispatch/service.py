"""The controller's side of a connect dispatch: the only code that dials an agency for a
dispatch and moves calls into its conference.

1. `connect()` checks that the caller is in a call with a call-taker, writes the dispatch
   (DispatchService, records.py), and dials in a task of its own: the primary trunk, then
   the backup, each an async AMI Originate bounded by the agency's ring_seconds; every
   attempt and the answer go on the record with Asterisk's times.
2. The agency leg runs [ntpd-dispatch-agency]: the announcement, then key 1 or 2. Its
   answer comes back as a UserEvent (DispatchKey), handled without any state kept here, so
   a controller started again mid-dispatch still finishes it.
3. On accept: the caller and the call-taker are redirected together into the conference,
   then the agency leg; the bridge is a step on the caller's record. A caller who hung up
   meanwhile: the agency hears so and is released, the dispatch stays accepted.

The caller and the call-taker are not touched before the accept: a failed dial, a refusal
or a controller restart leaves them talking as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import (
    AmiActions,
    AmiEvent,
    ConfbridgeLeave,
    ConfbridgeList,
    CoreShowChannel,
    DispatchKey,
)
from ntpd_ivr.ami.originator import ANSWER_MARGIN_SECONDS, Originator
from ntpd_ivr.background import Background
from ntpd_ivr.calls.values import CallStep
from ntpd_ivr.clock import event_datetime, utcnow
from ntpd_ivr.dispatch import ami
from ntpd_ivr.dispatch.model import (
    AgencyClosed,
    AnnouncementPrompts,
    BridgedPair,
    DispatchMode,
    NotConnected,
    agency_open,
    announcement,
    bridged_pair,
    caller_left_alone,
    conference_name,
    dispatch_of_leg,
    failure_reason,
    next_trunk,
    redirect_pair,
    trunk_of_channel,
    trunks_of,
)
from ntpd_ivr.errors import AmiError
from ntpd_ivr.incidents.exceptions import Conflict, NotFound
from ntpd_ivr.incidents.schemas import BadInput
from ntpd_ivr.originate import Outcome
from ntpd_ivr.routing.config import Agency, RoutingConfig

log = logging.getLogger(__name__)

# (kind, data, user): a change for the screens; `user` is the call-taker who dispatched.
Publish = Callable[[str, Mapping[str, Any], str | None], None]
StepSink = Callable[[CallStep], object]

KIND_CONFERENCE = "dispatch.conference"  # the caller's call step when the agency joins
KIND_BACK_TO_QUEUE = "dispatch.back-to-queue"  # ... when left alone in the conference
KEY_SECONDS = 5          # wait for a key after each round of the announcement
WAIT_SECONDS = 10        # after key 1, the agency leg waits this long for the controller


class DispatchRecords(Protocol):
    """What the dispatcher needs of the dispatch records (DispatchService, or a fake)."""

    clock: Callable[[], datetime]  # now, aware: an agency's hours are read against it

    async def refused_closed(self, incident_id: int, agency: Agency, actor: str, call: str,
                             at: datetime) -> None: ...

    async def incident(self, incident_id: int) -> dict[str, Any]: ...

    async def dispatch(self, incident_id: int, agency_key: str, mode: DispatchMode,
                       actor: str, call: str | None = None) -> dict[str, Any]: ...

    async def attempt(self, dispatch_id: int, at: datetime, trunk: str) -> dict[str, Any]: ...

    async def answered(self, dispatch_id: int, at: datetime, trunk: str
                       ) -> dict[str, Any]: ...

    async def accepted(self, dispatch_id: int, at: datetime) -> dict[str, Any]: ...

    async def refused(self, dispatch_id: int, at: datetime) -> dict[str, Any]: ...

    async def timed_out(self, dispatch_id: int, at: datetime) -> dict[str, Any]: ...

    async def live_connect_dispatches(self) -> list[dict[str, Any]]: ...


class ConnectDispatcher:
    def __init__(self, ami_client: AmiActions, records: DispatchRecords,
                 routing: Callable[[], RoutingConfig], steps: StepSink, publish: Publish, *,
                 prompts_dir: str, prompts: AnnouncementPrompts | None = None,
                 key_seconds: int = KEY_SECONDS, wait_seconds: int = WAIT_SECONDS,
                 answer_margin_seconds: float = ANSWER_MARGIN_SECONDS) -> None:
        self.ami = ami_client
        self.records = records
        self.routing = routing
        self.steps = steps
        self.publish = publish
        self.prompts_dir = prompts_dir
        self.prompts = prompts if prompts is not None else AnnouncementPrompts.load()
        self.key_seconds = key_seconds
        self.wait_seconds = wait_seconds
        self.originator = Originator(ami_client, answer_margin_seconds=answer_margin_seconds)
        self._background = Background("dispatch")
        self._tasks = self._background.tasks  # the live set of its tasks
        self._dialing: set[int] = set()  # dispatches this controller is dialling now

    async def stop(self) -> None:
        await self._background.stop()

    # --- the call-taker asks ----------------------------------------------------------------

    def _agency(self, key: str) -> Agency:
        agency = self.routing().agencies.get(key)
        if agency is None:
            raise NotFound(f"no agency {key!r} in the routing config")
        if not trunks_of(agency):
            raise BadInput(f"agency: {key} has no trunk to connect to (routing config "
                           "primary_trunk); dispatch it with mode notify")
        return agency

    async def _refuse_if_closed(self, incident_id: int, agency: Agency, call: str,
                                actor: str) -> None:
        """An agency outside its hours is not dialled: the refusal is audited and its
        reason goes back to the desk."""
        config = self.routing()
        now = self.records.clock()
        if agency_open(agency, config.zone, now):
            return
        local = now.astimezone(config.zone)
        reason = (f"{agency.name} is closed now ({local:%H:%M} {config.timezone}); its "
                  f"hours are {agency.hours.label}")
        await self.records.refused_closed(incident_id, agency, actor, call, now)
        log.info("dispatch of incident %d to %s refused: %s", incident_id, agency.key, reason,
                 extra={"call_id": call})
        raise AgencyClosed(reason)

    async def find_pair(self, caller: str, *, unbridged_ok: bool = False) -> BridgedPair:
        result = await self.ami.action({"Action": "CoreShowChannels"})
        channels = [e for e in result.events if isinstance(e, CoreShowChannel)]
        return bridged_pair(channels, caller, unbridged_ok=unbridged_ok)

    async def connect(self, incident_id: int, agency_key: str, call: str,
                      actor: str) -> dict[str, Any]:
        """Write a connect dispatch and start dialling; returns the dispatch (`dialing`)."""
        agency = self._agency(agency_key)
        incident = await self.records.incident(incident_id)
        await self._refuse_if_closed(incident_id, agency, call, actor)
        try:
            await self.find_pair(call)
        except AmiError as exc:
            raise Conflict(f"Asterisk cannot be asked about call {call}: {exc}") from None
        dispatch = await self.records.dispatch(incident_id, agency_key, "connect", actor,
                                                 call=call)
        prompts = announcement(incident["category"], incident["kecamatan"], self.prompts)
        self._dialing.add(dispatch["id"])
        self._background.spawn(self._dial(dispatch["id"], agency, call, actor, prompts),
                               f"dispatch-{dispatch['id']}")
        return dispatch

    # --- dialling ----------------------------------------------------------------------------

    async def _dial(self, dispatch_id: int, agency: Agency, caller: str, actor: str,
                    prompts: tuple[str, ...]) -> None:
        try:
            await self._dial_trunks(dispatch_id, agency, caller, actor, prompts)
        except Exception:  # the database, most likely: the call-taker must still know
            log.exception("dispatch %d: dialling %s failed", dispatch_id, agency.key,
                          extra={"call_id": caller})
            self._failed({"id": dispatch_id, "incident_id": None, "agency": agency.key,
                          "status": None}, "error", actor, caller)
        finally:
            self._dialing.discard(dispatch_id)

    async def _dial_trunks(self, dispatch_id: int, agency: Agency, caller: str, actor: str,
                           prompts: tuple[str, ...]) -> None:
        trunks = trunks_of(agency)
        variables = ami.leg_variables(dispatch_id, caller, self.prompts_dir, prompts,
                                      self.key_seconds, self.wait_seconds)
        outcomes: list[Outcome] = []
        while (trunk := next_trunk(trunks, outcomes)) is not None:
            try:
                await self.records.attempt(dispatch_id, utcnow(), trunk)
            except Conflict as exc:  # cancelled by the call-taker meanwhile
                log.info("dispatch %d: not dialling %s: %s", dispatch_id, trunk, exc,
                         extra={"call_id": caller})
                return
            outcome, at = await self._originate(dispatch_id, len(outcomes) + 1, trunk,
                                                agency.ring_seconds, variables, caller)
            outcomes.append(outcome)
            log.info("dispatch %d: %s %s", dispatch_id, trunk, outcome,
                     extra={"call_id": caller})
            if outcome == "answered":
                try:
                    await self.records.answered(dispatch_id, at, trunk)
                except Conflict as exc:  # cancelled while it rang: a key 1 gets "closed"
                    log.info("dispatch %d: %s answered a dispatch no longer live: %s",
                             dispatch_id, trunk, exc, extra={"call_id": caller})
                return
        dispatch = await self.records.timed_out(dispatch_id, utcnow())
        self._failed(dispatch, failure_reason(outcomes), actor, caller,
                     attempts=[{"trunk": t, "outcome": o}
                               for t, o in zip(trunks, outcomes, strict=False)])

    async def _originate(self, dispatch_id: int, attempt: int, trunk: str, ring_seconds: int,
                         variables: Mapping[str, str], caller: str
                         ) -> tuple[Outcome, datetime]:
        action = ami.originate(dispatch_id, attempt, trunk, ring_seconds, variables)
        done = await self.originator.originate(action, ring_seconds,
                                               what=f"dispatch {dispatch_id}", call_id=caller)
        return done.outcome, done.at

    # --- after a restart ----------------------------------------------------------------------

    def on_login(self) -> None:
        """After every AMI login: connect dispatches nobody dials any more are ended."""
        self._background.spawn(self.resync(), "dispatch-resync")

    async def resync(self) -> None:
        """A connect dispatch still `dialing` or `answered` that this controller is not
        dialling and that has no agency leg up in Asterisk was left by a controller that
        stopped: it is timed out, and its call-taker told (reason `interrupted`). One with
        a leg up is left alone: that leg's key still comes, and is honoured."""
        try:
            result = await self.ami.action({"Action": "CoreShowChannels"})
            live = await self.records.live_connect_dispatches()
        except AmiError as exc:
            log.warning("connect dispatches not checked after the AMI login: %s", exc)
            return
        legs = {dispatch_of_leg(e.uniqueid) for e in result.events
                if isinstance(e, CoreShowChannel)}
        for row in live:
            if row["id"] in self._dialing or row["id"] in legs:
                continue
            try:
                dispatch = await self.records.timed_out(row["id"], utcnow())
            except Conflict:  # it moved on meanwhile
                continue
            self._failed(dispatch, "interrupted", dispatch["created_by"], None)

    # --- what Asterisk tells ----------------------------------------------------------------

    def on_event(self, event: AmiEvent) -> None:
        """Every AMI event, in order, from the AMI consumer; never waits."""
        self.originator.on_event(event)
        if isinstance(event, DispatchKey):
            self._background.spawn(self._on_key(event), f"dispatch-{event.dispatch}-key")
        elif (isinstance(event, ConfbridgeLeave)
              and event.conference.startswith(dp.CONFERENCE_PREFIX)):
            self._background.spawn(self._after_leave(event), f"{event.conference}-leave")

    async def _after_leave(self, event: ConfbridgeLeave) -> None:
        """The agency and the call-taker have both gone: the caller is not left alone in a
        silent conference, a call-taker takes them again."""
        try:
            result = await self.ami.action(ami.conference_members(event.conference))
        except AmiError:  # nobody left in it (the caller hung up), or Asterisk is gone
            return
        members = [e for e in result.events if isinstance(e, ConfbridgeList)]
        log.debug("%s: %s left; members %s", event.conference, event.channel, members)
        alone = caller_left_alone(members, event.channel)
        if alone is None:
            return
        log.warning("%s: the caller is alone; back to a call-taker", event.conference,
                    extra={"call_id": alone.uniqueid or "-"})
        try:
            await self.ami.action(ami.caller_back_to_queue(alone.channel))
        except AmiError as exc:
            log.error("%s: caller %s not sent back to the queue: %s", event.conference,
                      alone.channel, exc, extra={"call_id": alone.uniqueid or "-"})
            return
        if alone.uniqueid:
            self._step(alone.uniqueid, event_datetime(event), KIND_BACK_TO_QUEUE,
                       {"conference": event.conference})

    async def _on_key(self, event: DispatchKey) -> None:
        at = event_datetime(event)
        if event.result == "accept":
            await self._accept(event, at)
            return
        try:
            if event.result == "refuse":
                dispatch = await self.records.refused(event.dispatch, at)
                reason = "refused"
            else:  # no key after the announcement twice, or the agency hung up first
                dispatch = await self.records.timed_out(event.dispatch, at)
                reason = "hung-up" if event.result == "hangup" else "no-input"
        except (Conflict, NotFound) as exc:
            log.warning("dispatch %d: agency's %s not recorded: %s", event.dispatch,
                        event.result, exc, extra={"call_id": event.caller})
            return
        self._failed(dispatch, reason, dispatch["created_by"], event.caller)

    async def _accept(self, event: DispatchKey, at: datetime) -> None:
        caller = event.caller
        try:
            await self._record_accept(event, at)
        except (Conflict, NotFound) as exc:
            log.warning("dispatch %d: key 1 on a dispatch that is no longer live: %s",
                        event.dispatch, exc, extra={"call_id": caller})
            await self._send_agency(event, dp.EXTEN_DISPATCH_CLOSED)
            return
        except Exception:
            # The database: the caller still gets the agency; the conference step below is
            # spooled and keeps the accept's time.
            log.exception("dispatch %d: accept not recorded; connecting all the same",
                          event.dispatch, extra={"call_id": caller})
        try:
            pair = await self.find_pair(caller, unbridged_ok=True)
            if pair.conference is None:
                await self.ami.action(redirect_pair(event.dispatch, pair))
        except (NotConnected, AmiError) as exc:
            log.info("dispatch %d accepted, but the caller is gone: %s", event.dispatch, exc,
                     extra={"call_id": caller})
            await self._send_agency(event, dp.EXTEN_DISPATCH_CALLER_GONE)
            return
        joined = event.dispatch if pair.conference is None else pair.conference
        await self._send_agency(event, ami.agency_bridge(event.dispatch, joined))
        conference = conference_name(joined)
        log.info("dispatch %d: caller, call-taker %s and agency %s in %s", event.dispatch,
                 pair.taker_channel, event.channel, conference, extra={"call_id": caller})
        self._step(caller, at, KIND_CONFERENCE, {
            "dispatch": event.dispatch, "conference": conference,
            "agency_channel": event.channel, "taker_channel": pair.taker_channel})

    def _step(self, caller: str, at: datetime, kind: str, detail: Mapping[str, Any]) -> None:
        """A step on the caller's call record (spooled, so it survives a database outage)."""
        try:
            self.steps(CallStep(caller, at.timestamp(), kind, detail))
        except (ValueError, RuntimeError):  # unstorable, or the record keeper is stopping
            log.exception("call step %s not recorded", kind, extra={"call_id": caller})

    async def _record_accept(self, event: DispatchKey, at: datetime) -> None:
        try:
            await self.records.accepted(event.dispatch, at)
        except Conflict:
            # Still `dialing`: a controller started again after the agency answered never
            # saw its Originate end. The key proves the answer: record it, then the accept.
            # From any other state this raises again (a dispatch no longer live).
            await self.records.answered(event.dispatch, at, trunk_of_channel(event.channel))
            await self.records.accepted(event.dispatch, at)

    async def _send_agency(self, event: DispatchKey, exten: str) -> None:
        try:
            await self.ami.action(ami.redirect_agency(event.channel, exten))
        except AmiError as exc:  # the agency hung up meanwhile, or Asterisk is gone
            log.warning("dispatch %d: agency leg %s not sent to %s: %s", event.dispatch,
                        event.channel, exten, exc, extra={"call_id": event.caller})

    def _failed(self, dispatch: Mapping[str, Any], reason: str, actor: str,
                caller: str | None, **extra: Any) -> None:
        """The call-taker is told at once; the caller stays with them, untouched."""
        log.warning("dispatch %d to %s failed: %s; the caller stays with the call-taker",
                    dispatch["id"], dispatch["agency"], reason,
                    extra={"call_id": caller or "-"})
        self.publish("dispatch.failed", {
            "id": dispatch["id"], "incident_id": dispatch["incident_id"],
            "agency": dispatch["agency"], "status": dispatch["status"], "reason": reason,
            "call": caller, **extra}, actor)
