"""The attended transfer of a live caller to a neighbouring 112 center (issue 23, item 2;
docs/eido.md, "Sending a transfer"), once that center took our EIDO (sender.py). The same
conference and accept pattern as a connect dispatch (ntpd_ivr/dispatch/service.py), with
its code: the Originate and its outcome (ami/originator.py), the caller and call-taker pair
(dispatch.model.bridged_pair), their Redirect into the dispatch conference
(dispatch.model.redirect_pair) and the caller left alone there going back to a call-taker
(the dispatcher's ConfbridgeLeave handling, which sees every ntpd-dispatch-* conference).

1. `start()` dials PJSIP/112@<the neighbour's trunk> (the AOR of its `contact`) with the
   EIDO's Call-Info header and the caller's caller ID, in a task of its own: `ringing`.
2. The other center answers (`answered`); its call-taker hears the announcement
   ([ntpd-transfer-neighbour]) and presses 1: a TransferKey event.
3. On 1 (`accepted`): our caller and our call-taker are redirected together into the
   conference, then the neighbour's leg. The caller and our call-taker are not touched
   before: a failure leaves them talking as they were.
4. Our call-taker leaves the conference (hangs up, or the desk's "hand over"): `completed`,
   the caller stays with the other center.
Failures (`failed`, with a reason): not answered within transfer.ring_seconds (no-answer),
busy, unreachable, a key other than 1 (refused), no key (no-input; the controller's own
bound: timeout), the other center hung up (hung-up), our caller hung up (caller-gone).
Each state is a `transfer.<state>` step on the caller's call record and an audit entry on
the incident, and goes to the call-taker's screen (workspace topic, `transfer.state`).

Transfers in flight are followed in memory and kept in PostgreSQL (persist.py, table
transfers_out): each state's row is written with its audit entry, in one transaction,
bounded in time. A controller started again mid-transfer reads the transfers in progress
back (`resume`) and finishes them with their incident and call-taker; one it still does
not know when its key comes is looked up by its reference. A database that fails or is
slow never holds the transfer: it goes on from memory, and the row or entry not written
is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import (
    AmiActions,
    AmiEvent,
    ConfbridgeLeave,
    CoreShowChannel,
    TransferKey,
)
from ntpd_ivr.ami.originator import Originator
from ntpd_ivr.audit.trail import AuditWriter
from ntpd_ivr.background import Background
from ntpd_ivr.calls.values import CallStep
from ntpd_ivr.clock import event_datetime, utcnow
from ntpd_ivr.dispatch.model import (
    NotConnected,
    bridged_pair,
    conference_name,
    redirect_pair,
)
from ntpd_ivr.errors import AmiError
from ntpd_ivr.numbers import E164
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.transfer import outbound
from ntpd_ivr.transfer.config import Neighbour
from ntpd_ivr.transfer.outbound import Transfer, TransferRefused

log = logging.getLogger(__name__)

# (kind, data, user): the call-taker's own screen.
Publish = Callable[[str, Mapping[str, Any], str], None]
StepSink = Callable[[CallStep], object]
DESK_KIND = "transfer.state"
GRACE_SECONDS = 10.0  # past the dialplan's own rounds, before the controller gives up
ENDED_KEPT = 500      # ended transfers remembered, so that a late key moves nobody


class TransferRows(Protocol):
    """Where transfers are kept (persist.TransferOutStore); each call bounded in time."""

    async def save(self, transfer: Transfer, at: datetime, action: str | None = None,
                   detail: Mapping[str, Any] | None = None) -> None: ...

    async def get(self, reference: str) -> Transfer | None: ...

    async def in_progress(self, now: datetime) -> list[Transfer]: ...

    async def of_call(self, uniqueid: str) -> Transfer | None: ...


class TransferCaller:
    def __init__(self, ami_client: AmiActions, routing: Callable[[], RoutingConfig],
                 steps: StepSink, audit: AuditWriter, publish: Publish, *,
                 prompts_dir: str, ring_seconds: int, accept_seconds: int,
                 grace_seconds: float = GRACE_SECONDS,
                 rows: TransferRows | None = None) -> None:
        self.ami = ami_client
        self.rows = rows  # None: memory alone (the records are the steps and the audit)
        self.routing = routing
        self.steps = steps
        self.audit = audit
        self.publish = publish
        self.prompts_dir = prompts_dir
        self.ring_seconds = ring_seconds
        self.accept_seconds = accept_seconds
        self.grace_seconds = grace_seconds
        self.originator = Originator(ami_client)
        self.live: dict[str, Transfer] = {}  # reference -> its transfer, until it ends
        self.ended: OrderedDict[str, str] = OrderedDict()  # reference -> its last state
        self._background = Background("transfer")

    async def stop(self) -> None:
        await self._background.stop()

    # --- a controller started again ----------------------------------------------------------

    async def resume(self) -> int:
        """The transfers in progress when the last controller stopped, back in memory, each
        bounded as a new one would be (a neighbour's leg gone meanwhile never keys).
        Returns how many; a database that cannot say is logged, and none are resumed."""
        if self.rows is None:
            return 0
        try:
            found = await self.rows.in_progress(utcnow())
        except Exception:
            log.exception("transfers in progress not read back: a key for one of them is "
                          "looked up when it comes")
            return 0
        for transfer in found:
            if transfer.reference in self.live or transfer.reference in self.ended:
                continue
            self.live[transfer.reference] = transfer
            if transfer.state in ("ringing", "answered"):
                self._background.spawn(self._bound(transfer.reference),
                                       f"transfer-{transfer.reference}-resumed")
            log.info("transfer %s to %s resumed (%s, incident %s, %s)", transfer.reference,
                     transfer.neighbour, transfer.state, transfer.incident_id,
                     transfer.actor, extra={"call_id": transfer.caller})
        return len(found)

    async def _bound(self, reference: str) -> None:
        """A resumed transfer not yet accepted ends as timed out after the whole ring and
        accept time, as one this controller dialled would."""
        await asyncio.sleep(self.ring_seconds + self.accept_seconds + self.grace_seconds)
        if self._state(reference) in ("ringing", "answered"):
            await self._fail(reference, "timeout", utcnow(), {"resumed": True})

    async def _known(self, reference: str) -> Transfer | None:
        """A transfer this controller does not follow, from its row (None: none, or the
        database cannot say now)."""
        if self.rows is None:
            return None
        try:
            found = await self.rows.get(reference)
        except Exception:
            log.exception("transfer %s not looked up", reference)
            return None
        if found is None:
            return None
        if found.final:
            self.ended[reference] = found.state
            return None
        self.live.setdefault(reference, found)
        return self.live[reference]

    async def of_call(self, call: str) -> dict[str, Any] | None:
        """What a reloaded desk shows of this call's latest transfer: the one in progress
        in memory, else its row (ended or not); None when there is none or the database
        cannot say now."""
        live = [t for t in self.live.values() if t.caller == call]
        if live:
            return live[-1].desk()
        if self.rows is None:
            return None
        try:
            found = await self.rows.of_call(call)
        except Exception:
            log.exception("transfer of %s not read", call, extra={"call_id": call})
            return None
        return found.desk() if found is not None else None

    # --- the call-taker asks ----------------------------------------------------------------

    async def _channels(self) -> list[CoreShowChannel]:
        try:
            result = await self.ami.action({"Action": "CoreShowChannels"})
        except AmiError as exc:
            raise TransferRefused("not-connected", f"Asterisk cannot be asked: {exc}") from None
        return [e for e in result.events if isinstance(e, CoreShowChannel)]

    async def check(self, neighbour: Neighbour, call: str) -> str:
        """Before the EIDO goes: the neighbour can be called, and the caller is in a call
        with a call-taker. Returns the caller ID the neighbour's leg will show."""
        if not neighbour.contact:
            raise TransferRefused("no-contact", f"{neighbour.key} has no contact: calls can "
                                  "come from that center, none go to it (routing config)")
        channels = await self._channels()
        try:
            pair = bridged_pair(channels, call)
        except NotConnected as exc:
            raise TransferRefused("not-connected", str(exc)) from None
        number = next(c.caller_number for c in channels if c.uniqueid == call)
        log.debug("transfer of %s: caller %s with %s", call, pair.caller_channel,
                  pair.taker_channel, extra={"call_id": call})
        number_format = self.routing().number_format_of(neighbour.trunk, E164)
        return outbound.caller_id(number, number_format)

    async def start(self, incident_id: int, neighbour: Neighbour, call: str, actor: str,
                    shown: str, call_info: str, reference: str) -> Transfer:
        """Dial the neighbour in a task of its own; returns the transfer (`ringing`)."""
        transfer = Transfer(reference, incident_id, neighbour.key, neighbour.name, call, actor)
        self.live[reference] = transfer
        await self._record(transfer, utcnow(), {"trunk": neighbour.trunk,
                                                "caller_id": shown})
        action = outbound.originate(transfer, neighbour.trunk, self.ring_seconds,
                                    self.accept_seconds, shown, call_info, self.prompts_dir)
        self._background.spawn(self._dial(transfer, action), f"transfer-{reference}")
        return transfer

    async def hand_over(self, reference: str, call: str) -> Transfer:
        """The desk's "hand over": our call-taker leaves the accepted transfer's conference
        (their leg hung up); the leave completes it."""
        transfer = self.live.get(reference)
        if transfer is None or transfer.caller != call:
            raise TransferRefused("error", f"no transfer {reference} of call {call} in "
                                  "progress")
        if transfer.state != "accepted" or transfer.taker_channel is None:
            raise TransferRefused("not-connected", f"transfer {reference} is "
                                  f"{transfer.state}: the other center has not accepted")
        try:
            await self.ami.action(outbound.hangup(transfer.taker_channel))
        except AmiError as exc:
            raise TransferRefused("error", f"the call-taker's leg not released: {exc}"
                                  ) from None
        return transfer

    # --- dialling ----------------------------------------------------------------------------

    async def _dial(self, transfer: Transfer, action: Mapping[str, str]) -> None:
        try:
            done = await self.originator.originate(action, self.ring_seconds,
                                                   what=f"transfer {transfer.reference}",
                                                   call_id=transfer.caller)
            if done.outcome != "answered":
                await self._fail(transfer.reference, outbound.outcome_reason(done.outcome),
                                 done.at, {"outcome": done.outcome})
                return
            await self._advance(transfer.reference, "answered", done.at, {})
            # The dialplan ends its own rounds and says so; this bounds it all the same.
            await asyncio.sleep(self.accept_seconds + self.grace_seconds)
            if self._state(transfer.reference) == "answered":
                await self._fail(transfer.reference, "timeout", utcnow(), {})
                if done.channel:
                    await self._send(outbound.hangup(done.channel), transfer.reference)
        except Exception:  # the database, most likely: the call-taker must still know
            log.exception("transfer %s failed", transfer.reference,
                          extra={"call_id": transfer.caller})
            await self._fail(transfer.reference, "error", utcnow(), {})

    def _state(self, reference: str) -> str | None:
        found = self.live.get(reference)
        return found.state if found is not None else None

    # --- what Asterisk tells ----------------------------------------------------------------

    def on_event(self, event: AmiEvent) -> None:
        """Every AMI event, in order, from the AMI consumer; never waits."""
        self.originator.on_event(event)
        if isinstance(event, TransferKey):
            self._background.spawn(self._on_key(event), f"transfer-{event.transfer}-key")
        elif isinstance(event, ConfbridgeLeave):
            transfer = next((t for t in self.live.values() if t.state == "accepted"
                             and event.channel in (t.taker_channel, t.neighbour_channel,
                                                   t.caller_channel)), None)
            if transfer is not None:
                self._background.spawn(self._after_leave(transfer, event),
                                       f"transfer-{transfer.reference}-leave")

    async def _on_key(self, event: TransferKey) -> None:
        at = event_datetime(event)
        if event.transfer not in self.live and event.transfer not in self.ended:
            await self._known(event.transfer)  # a controller started again meanwhile
        if event.transfer in self.ended:  # failed meanwhile (timed out): nobody moves
            if event.result == "accept":
                await self._send(outbound.redirect_leg(
                    event.channel, dp.EXTEN_TRANSFER_CALLER_GONE), event.transfer)
            return
        if event.transfer not in self.live:  # started again, and no row: what the event says
            self.live[event.transfer] = Transfer(event.transfer, None, "", "", event.caller,
                                                 "system", state="answered")
        elif self._state(event.transfer) == "ringing":  # the key came before the answer
            await self._advance(event.transfer, "answered", at, {})
        if event.result != "accept":
            await self._fail(event.transfer, outbound.key_reason(event.result), at,
                             {"neighbour_channel": event.channel})
            return
        try:
            channels = await self._channels()
            pair = bridged_pair(channels, event.caller, unbridged_ok=True)
            room = outbound.room(event.transfer)
            if pair.conference is None:
                await self.ami.action(redirect_pair(room, pair))
            else:  # already with an agency: the neighbour joins that conference
                room = str(pair.conference)
        except (NotConnected, TransferRefused, AmiError) as exc:
            log.info("transfer %s accepted, but the caller is gone: %s", event.transfer, exc,
                     extra={"call_id": event.caller})
            await self._send(outbound.redirect_leg(event.channel, dp.EXTEN_TRANSFER_CALLER_GONE),
                             event.transfer)
            await self._fail(event.transfer, "caller-gone", at,
                             {"neighbour_channel": event.channel})
            return
        await self._send(outbound.redirect_leg(event.channel, f"bridge-{room}"),
                         event.transfer)
        await self._advance(event.transfer, "accepted", at, {
            "conference": conference_name(room), "neighbour_channel": event.channel,
            "taker_channel": pair.taker_channel},
            taker_channel=pair.taker_channel, neighbour_channel=event.channel,
            caller_channel=pair.caller_channel)
        log.info("transfer %s: caller, call-taker %s and the other center %s in %s",
                 event.transfer, pair.taker_channel, event.channel, conference_name(room),
                 extra={"call_id": event.caller})

    async def _after_leave(self, transfer: Transfer, event: ConfbridgeLeave) -> None:
        at = event_datetime(event)
        if event.channel == transfer.taker_channel:
            await self._advance(transfer.reference, "completed", at,
                                {"conference": event.conference})
        elif event.channel == transfer.caller_channel:  # the others are released with it
            await self._fail(transfer.reference, "caller-gone", at,
                             {"conference": event.conference})
        else:  # the other center left first: the caller is still with our call-taker
            await self._fail(transfer.reference, "hung-up", at,
                             {"conference": event.conference})

    async def _send(self, action: dict[str, str], reference: str) -> None:
        try:
            await self.ami.action(action)
        except AmiError as exc:  # the leg hung up meanwhile, or Asterisk is gone
            log.warning("transfer %s: %s %s not done: %s", reference, action["Action"],
                        action.get("Channel"), exc)

    # --- the records ---------------------------------------------------------------------------

    async def _advance(self, reference: str, state: str, at: datetime,
                       detail: Mapping[str, Any], **changes: Any) -> None:
        transfer = self.live.get(reference)
        if transfer is None:
            return
        try:
            transfer = transfer.to(state, **changes)
        except ValueError as exc:
            log.info("%s", exc, extra={"call_id": transfer.caller})
            return
        if transfer.final:
            self.live.pop(reference, None)
            self.ended[reference] = transfer.state
            while len(self.ended) > ENDED_KEPT:
                self.ended.popitem(last=False)
        else:
            self.live[reference] = transfer
        await self._record(transfer, at, detail)

    async def _fail(self, reference: str, reason: str, at: datetime,
                    detail: Mapping[str, Any]) -> None:
        assert reason in outbound.CALL_REASONS, reason
        transfer = self.live.get(reference)
        if transfer is not None:
            log.warning("transfer %s to %s failed: %s; the caller stays with the call-taker",
                        reference, transfer.neighbour, reason,
                        extra={"call_id": transfer.caller})
        await self._advance(reference, "failed", at, detail, reason=reason)

    async def _record(self, transfer: Transfer, at: datetime,
                      detail: Mapping[str, Any]) -> None:
        """A `transfer.<state>` step on the caller's record (spooled: it survives a database
        outage), the same in the audit trail on the incident, then the desk told."""
        kind = outbound.KIND_PREFIX + transfer.state
        data = {"incident": transfer.incident_id, "neighbour": transfer.neighbour,
                "reference": transfer.reference, **detail}
        if transfer.reason is not None:
            data["reason"] = transfer.reason
        try:
            self.steps(CallStep(transfer.caller, at.timestamp(), kind, data))
        except (ValueError, RuntimeError):  # unstorable, or the record keeper is stopping
            log.exception("call step %s not recorded", kind, extra={"call_id": transfer.caller})
        if self.rows is not None:  # the row and its audit entry: one transaction
            try:
                await self.rows.save(transfer, at, kind, {"call": transfer.caller, **data})
            except Exception:  # the step above is on record; the transfer goes on
                log.exception("transfer %s: row and audit entry %s not written",
                              transfer.reference, kind, extra={"call_id": transfer.caller})
        elif transfer.incident_id is not None:
            try:
                await self.audit.write(transfer.actor, kind, "incident",
                                       str(transfer.incident_id),
                                       {"call": transfer.caller, **data})
            except Exception:  # the step above is on record; the caller must not wait on it
                log.exception("audit entry %s not written", kind,
                              extra={"call_id": transfer.caller})
        # Last: what the desk is shown is on record (the call-taker's next act comes after).
        self.publish(DESK_KIND, transfer.desk(), transfer.actor)
