"""The workspace's service: the only code that changes a call-taker's presence, and the
one that pops calls on their screens.

The AMI consumer hands every event to `on_event`, which must stay cheap (the call path,
see docs/performance.md): it only looks at queue-member events, and only for endpoints a
web user is tied to; the database look-ups for a pop run in a task of their own, under a
time limit, after the event has been handed on. The end of a popped call starts its
wrap-up (ntpd_ivr/workspace/wrapup.py), in a task of its own too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from ntpd_ivr.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiActions,
    AmiEvent,
)
from ntpd_ivr.background import Background
from ntpd_ivr.errors import AmiError
from ntpd_ivr.location.model import DeskFix, best_first
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import LiveHub
from ntpd_ivr.workspace.ami import presence_actions, queue_members
from ntpd_ivr.workspace.model import (
    MAX_HISTORY,
    TOPIC,
    AlreadyMember,
    AsteriskRefused,
    InWrapUp,
    NoEndpoint,
    NotLoggedIn,
    Presence,
    PresenceChange,
    StaticMember,
    WorkspaceError,
    call_of,
    caller_of,
    endpoint_of,
    has_history,
    overflow_note,
    pop_of,
    presence_from_members,
)
from ntpd_ivr.workspace.wrapup import DEFAULT_LIMIT_SECONDS, WrapUps, WrapUpStore

log = logging.getLogger(__name__)


async def _nothing() -> list[dict[str, Any]]:
    """No history to read (a withheld or unknown caller is never one person)."""
    return []

TRANSFERRED = "transfer"  # the calls row's route_reason of a transferred call (ntpd_ivr/transfer)
POP_LOOKUP_SECONDS = 0.7  # the pop must reach the screen within 1 s of AgentCalled
LATE_FIXES_SECONDS = 10.0  # the fixes a cut-short pop went without, looked up after it
ROW_RETRY_SECONDS = 0.1  # the calls row may still be on its way from the spool
USERS_CHECK_SECONDS = 1.0  # the users file looked at from call-taker events at most this often
_MEMBER_EVENTS = (AgentCalled, AgentConnect, AgentComplete, AgentRingNoAnswer)
# A call's fixes from its caller's phone (ntpd_ivr/location): uniqueid, caller, arrival.
FixesLookup = Callable[[str, str | None, Any], Awaitable[list[DeskFix]]]
# A transferred call's incident from its first center (ntpd_ivr/transfer): uniqueid ->
# {"neighbour", "form"}, or None.
TransferLookup = Callable[[str], Awaitable[dict[str, Any] | None]]
# Calls whose answering endpoint is kept in memory (older ones: the calls row says).
ANSWERED_MEMORY = 5000


class WorkspaceStore(WrapUpStore, Protocol):
    async def call_row(self, uniqueid: str) -> dict[str, Any] | None: ...

    async def caller_history(self, caller_number: str, *, before_uniqueid: str,
                             limit: int) -> list[dict[str, Any]]: ...

    async def audit(self, *, actor: str, action: str, target: str,
                    detail: Mapping[str, Any], outcome: str) -> None: ...


class WorkspaceService:
    def __init__(self, ami: AmiActions, store: WorkspaceStore, users: UserStore,
                 hub: LiveHub, queues: Callable[[], Sequence[str]], *,
                 lookup_seconds: float = POP_LOOKUP_SECONDS,
                 wrapup_limit: Callable[[], float] = lambda: DEFAULT_LIMIT_SECONDS,
                 routing: Callable[[], RoutingConfig] | None = None,
                 fixes: FixesLookup | None = None,
                 location_link: Callable[[], bool] = lambda: False,
                 transfer: TransferLookup | None = None) -> None:
        self.ami = ami
        self.transfer = transfer
        self.fixes = fixes
        self.location_link = location_link  # whether the desk offers the location-link button
        # The SMS gateway as the last status said ({"up", "waiting"}; None: SMS is off).
        self.sms: dict[str, Any] | None = None
        self.store = store
        self.users = users
        self.hub = hub
        self.queues = queues
        self.lookup_seconds = lookup_seconds
        # What the incident form offers (categories, regions and their places): the live
        # routing config; without one, the built-in single region.
        self.routing = routing or (lambda: RoutingConfig.minimal("takers-default"))
        self.presence: dict[str, Presence] = {}
        self.pops: dict[str, dict[str, Any]] = {}  # endpoint -> the call on its screen
        self.ended: dict[str, dict[str, Any]] = {}  # endpoint -> its last call that ended
        self._background = Background("workspace")
        self._by_endpoint: dict[str, tuple[str, ...]] = {}
        self._users_read: dict[str, Any] | None = None  # the users dict the map is of
        # The caller's uniqueid -> the endpoint that answered it (AgentConnect), for the
        # call-takers' rights (ntpd_ivr/incidents/rights.py); the newest last.
        self.answered: OrderedDict[str, str] = OrderedDict()
        # Two nodes: presence replayed to this node, if it was away, before it is read
        # back after a login (ntpd_ivr/peer/replay.py); never raises.
        self.before_resync: Callable[[], Awaitable[Any]] | None = None
        self.wrapups = WrapUps(ami, store, limit=wrapup_limit, refresh=self.refresh,
                               publish=self._publish)
        self.reload_users()

    # --- who is who ----------------------------------------------------------------------

    def reload_users(self) -> None:
        users = self.users.users
        found: dict[str, list[str]] = {}
        for user in users.values():
            if user.sip_endpoint:
                found.setdefault(user.sip_endpoint, []).append(user.name)
        self._by_endpoint = {endpoint: tuple(names) for endpoint, names in found.items()}
        self._users_read = users

    def users_of(self, endpoint: str) -> tuple[str, ...]:
        """The web users tied to this endpoint, as the users file says: a user added or
        moved while the controller runs (`ntpd-ivr user add`) gets the pops from a second
        later on. On the AMI event path: the file's stamp is looked at (one stat) at most
        once a second, not at every call-taker event (1.9 % of path a's CPU at 40 calls/s,
        docs/performance.md); it is read again only when the stamp changed."""
        self.users.refresh(not_within=USERS_CHECK_SECONDS)
        if self.users.users is not self._users_read:
            self.reload_users()
            log.info("web users changed: screen pops go to %s",
                     ", ".join(f"{e}: {'/'.join(n)}" for e, n in
                               sorted(self._by_endpoint.items())) or "nobody")
        return self._by_endpoint.get(endpoint, ())

    async def answered_by(self, uniqueid: str) -> str | None:
        """The endpoint that answered this call: from AMI AgentConnect if this controller
        saw it; else the endpoint it is ringing on now (AMI AgentCalled: the screen pops,
        and its form is usable, while the phone rings, so the call-taker may save what the
        caller says before AgentConnect arrives); else the calls row's `answered_by` (a
        call from before a restart)."""
        endpoint = self.answered.get(uniqueid)
        if endpoint is not None:
            return endpoint
        ringing = [e for e, pop in self.pops.items() if pop.get("uniqueid") == uniqueid]
        if len(ringing) == 1:  # offered to one phone only (a ringall queue: to none)
            return ringing[0]
        row = await self.store.call_row(uniqueid)
        found = (row or {}).get("answered_by")
        return str(found) if found else None

    def endpoint_of_user(self, user: str) -> str | None:
        self.users.refresh()
        found = self.users.users.get(user)
        return found.sip_endpoint if found is not None else None

    def presence_of(self, endpoint: str) -> Presence:
        return self.presence.get(endpoint) or Presence(endpoint)

    def _publish(self, endpoint: str, kind: str, data: Mapping[str, Any]) -> None:
        for user in self.users_of(endpoint):
            self.hub.publish(TOPIC, kind, data, user=user)

    # --- screen pop ---------------------------------------------------------------------

    def on_event(self, event: AmiEvent) -> None:
        """Every AMI event, in order, from the AMI consumer; never waits."""
        if not isinstance(event, _MEMBER_EVENTS):
            return
        endpoint = endpoint_of(event.interface)
        if isinstance(event, AgentConnect) and event.uniqueid:
            self.answered[event.uniqueid] = endpoint
            self.answered.move_to_end(event.uniqueid)
            while len(self.answered) > ANSWERED_MEMORY:
                self.answered.popitem(last=False)
        users = self.users_of(endpoint)
        if not users:
            return
        if isinstance(event, AgentCalled):
            if any(self.hub.watching(TOPIC, user) for user in users):
                # Known by its id at once, so that an AgentConnect or the end arriving
                # during the look-up is not lost: their state goes into the pop.
                placeholder: dict[str, Any] = {"uniqueid": event.uniqueid, "state": "ringing"}
                self.pops[endpoint] = placeholder
                self._background.spawn(self.pop(event, endpoint, placeholder),
                                       f"pop-{event.uniqueid}")
            return
        pop = self.pops.get(endpoint)
        if pop is None:
            return
        # An AgentComplete without the caller's id (events.AgentComplete) is about the
        # call this member has: the one popped.
        uniqueid = event.uniqueid or (pop["uniqueid"] if isinstance(event, AgentComplete)
                                      else "")
        if pop["uniqueid"] != uniqueid:
            return
        if isinstance(event, AgentConnect):
            pop.update(state="connected", wait_seconds=event.hold_time)
            self._publish(endpoint, "call.connected",
                          {"uniqueid": uniqueid, "wait_seconds": event.hold_time})
        else:  # rang out, or the call is over: the screen keeps it, marked as such
            pop["state"] = "missed" if isinstance(event, AgentRingNoAnswer) else "ended"
            del self.pops[endpoint]
            self._publish(endpoint, f"call.{pop['state']}", {"uniqueid": uniqueid})
            if isinstance(event, AgentComplete):
                self.ended[endpoint] = pop
                self._background.spawn(self.wrapups.call_ended(endpoint, uniqueid),
                                       f"wrapup-{uniqueid}")

    def screen_call(self, endpoint: str) -> dict[str, Any] | None:
        """The call a (re)loaded screen shows: the one ringing or connected, else the one
        whose wrap-up is pending."""
        wrapup = self.wrapups.of(endpoint)
        ended = self.ended.get(endpoint)
        if endpoint in self.pops or wrapup is None:
            return self.pops.get(endpoint)
        if ended is not None and ended["uniqueid"] == wrapup.uniqueid:
            return ended
        return {**call_of(wrapup.uniqueid, endpoint, {}), "state": "ended"}

    def on_disposition(self, uniqueid: str) -> None:
        """A call's disposition was set (ntpd_ivr/incidents): its wrap-up, if any, ends."""
        self._background.spawn(self.wrapups.disposition_set(uniqueid), f"disposed-{uniqueid}")

    async def pop(self, called: AgentCalled, endpoint: str,
                  placeholder: dict[str, Any]) -> None:
        """Look the call and its caller up (under a time limit) and push it to the screen.
        What the time limit cut short is pushed as missing, never held back."""
        row: dict[str, Any] | None = None
        history: list[dict[str, Any]] | None = None
        fixes: list[DeskFix] = []
        fixes_read = False
        transferred: dict[str, Any] | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lookup_seconds
        # The IVR's update (region, category) may still be on its way from the spool: ask
        # again for half the time, then go on with what there is.
        row_deadline = loop.time() + self.lookup_seconds / 2
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    row = await self.store.call_row(called.uniqueid)
                    if (row is not None and row.get("category")) or loop.time() >= row_deadline:
                        break
                    await asyncio.sleep(ROW_RETRY_SECONDS)
                number = caller_of(called, row)
                if (self.transfer is not None and row is not None
                        and row.get("route_reason") == TRANSFERRED):
                    transferred = await self.transfer(called.uniqueid)
                history_read = (self.store.caller_history(
                    number, before_uniqueid=called.uniqueid, limit=MAX_HISTORY)
                    if has_history(number) else _nothing())
                if self.fixes is None:
                    history = await history_read
                else:  # side by side: the fixes do not wait for the history
                    history, fixes = await asyncio.gather(history_read, self.fixes(
                        called.uniqueid, number, (row or {}).get("arrived_at")))
                    fixes_read = True
        except TimeoutError:
            log.warning("screen pop for %s: look-up over %g s, popped without %s", endpoint,
                        self.lookup_seconds, "the call row" if row is None else "the history",
                        extra={"call_id": called.uniqueid})
        except Exception:  # the database is down: the phone rings all the same
            log.exception("screen pop for %s: look-up failed", endpoint,
                          extra={"call_id": called.uniqueid})
        pop = pop_of(called, row, history, time.time(), fixes)
        if transferred is not None:
            pop["transfer"] = transferred
        overflow = overflow_note(self.routing(), row)
        if overflow is not None:  # another center's edge sent it here: that center is dark
            pop["overflow"] = overflow
        pop.update({key: placeholder[key] for key in ("state", "wait_seconds")
                    if key in placeholder})
        if self.pops.get(endpoint) is placeholder:
            self.pops[endpoint] = pop
        self._publish(endpoint, "call.ringing", pop)
        if self.fixes is not None and not fixes_read:  # the time limit cut the look-up short
            self._background.spawn(self._late_fixes(called, row), "workspace-late-fixes")
        log.info("screen pop to %s (%s)", endpoint,
                 ", ".join(self.users_of(endpoint)),
                 extra={"call_id": called.uniqueid})

    # --- the caller's location, live (ntpd_ivr/location) ----------------------------------

    async def _late_fixes(self, called: AgentCalled, row: dict[str, Any] | None) -> None:
        """The fixes a pop went without (its look-up ran out of time), pushed as they would
        have come live: `location.fix`, one each."""
        assert self.fixes is not None
        async with asyncio.timeout(LATE_FIXES_SECONDS):
            for fix in await self.fixes(called.uniqueid, caller_of(called, row),
                                        (row or {}).get("arrived_at")):
                self.add_fix(called.uniqueid, fix)

    def add_fix(self, uniqueid: str, fix: DeskFix) -> int:
        """A new fix of this call: into its pop (a reloaded screen keeps it), and pushed as
        `location.fix` {call, fix, fixes} (fixes: all of the call's now, best first) to the
        call-taker whose screen has the call. How many screens had it (0: not popped yet;
        the pop's look-up will find it)."""
        shown = 0
        for endpoint, pop in [*self.pops.items(), *self.ended.items()]:
            if pop.get("uniqueid") != uniqueid:
                continue
            known = [DeskFix.from_json(f) for f in pop.get("fixes") or ()]
            pop["fixes"] = [f.as_json() for f in best_first([*known, fix])]
            self._publish(endpoint, "location.fix",
                          {"call": uniqueid, "fix": fix.as_json(), "fixes": pop["fixes"]})
            shown += 1
        return shown

    def sms_status(self, up: bool | None, waiting: int) -> None:
        """The SMS gateway's status, to every desk (`sms.status`) and into new pages."""
        self.sms = {"up": up, "waiting": waiting}
        self.hub.publish(TOPIC, "sms.status", self.sms)

    # --- presence -----------------------------------------------------------------------

    def on_login(self) -> None:
        """After every AMI login: presence again from Asterisk (events were lost)."""
        self._background.spawn(self.resync(), "workspace-resync")

    async def resync(self) -> None:
        if self.before_resync is not None:
            await self.before_resync()
        try:
            members = await queue_members(self.ami)
        except AmiError as exc:
            log.warning("presence not rebuilt from QueueStatus: %s", exc)
            return
        self.presence = presence_from_members(members)
        self.users_of("")  # the map as the users file is now
        for endpoint in list(self._by_endpoint):
            self._publish(endpoint, "presence", self.presence_of(endpoint).to_json())
        log.info("presence rebuilt from QueueStatus: %d member(s) of %d endpoint(s)",
                 len(members), len(self.presence))
        # Each restored wrap-up's call is read before the wrap-up shows: a screen loaded in
        # between would show the wrap-up of a call with no caller, and keep it.
        await self.wrapups.restore(self.presence, before_shown=self._recall_unless_known)

    async def _recall_unless_known(self, endpoint: str, uniqueid: str) -> None:
        if self.ended.get(endpoint, {}).get("uniqueid") != uniqueid:
            await self._recall(endpoint, uniqueid)

    async def _recall(self, endpoint: str, uniqueid: str) -> None:
        """The call of a restored wrap-up, from its calls row, for a reloaded screen."""
        row: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(self.lookup_seconds * 3):
                row = await self.store.call_row(uniqueid)
        except Exception:  # the screen shows the call by its id alone
            log.exception("the call of %s's wrap-up not read", endpoint,
                          extra={"call_id": uniqueid})
        self.ended[endpoint] = {**call_of(uniqueid, endpoint, row or {}), "state": "ended"}

    async def refresh(self, endpoint: str) -> Presence:
        members = await queue_members(self.ami, endpoint)
        found = presence_from_members(m for m in members if endpoint_of(m.interface) == endpoint)
        presence = found.get(endpoint, Presence(endpoint))
        if presence.memberships:
            self.presence[endpoint] = presence
        else:
            self.presence.pop(endpoint, None)
        return presence

    async def change_presence(self, user: str, change: PresenceChange) -> Presence:
        """Log in, log out, pause, unpause: in Asterisk, then read back from it, audited
        (who, what, how it went), then pushed to the call-taker's screens."""
        endpoint = self.endpoint_of_user(user)
        if endpoint is None:
            raise NoEndpoint(f"web user {user} has no sip_endpoint: "
                             "ntpd-ivr user add NAME --sip-endpoint ENDPOINT")
        detail: dict[str, Any] = {"queue": change.queue} if change.queue else {}
        if change.reason:
            detail["reason"] = change.reason
        action = f"presence.{change.action}"
        try:
            current = await self.refresh(endpoint)
            refusal = self._refusal(change, current)
            if refusal is not None:
                await self._audit(user, action, endpoint, detail, f"refused: {refusal.error}")
                raise refusal
            for ami_action in presence_actions(change, endpoint, current):
                await self.ami.action(ami_action)
        except AmiError as exc:
            await self._audit(user, action, endpoint, detail, f"failed: {exc}")
            raise AsteriskRefused(str(exc)) from None
        try:
            presence = await self.refresh(endpoint)
        except AmiError as exc:  # done, but not read back: the next resync will
            log.warning("presence of %s not read back: %s", endpoint, exc)
            presence = self.presence_of(endpoint)
        await self._audit(user, action, endpoint, detail, "ok")
        log.info("presence of %s: %s by %s -> %s", endpoint, change.action, user,
                 presence.state)
        self._publish(endpoint, "presence", presence.to_json())
        return presence

    def _refusal(self, change: PresenceChange, current: Presence) -> WorkspaceError | None:
        if change.action == "login":
            if any(m.queue == change.queue for m in current.memberships):
                return AlreadyMember(f"{current.endpoint} is already in {change.queue}")
            return None
        if change.action == "unpause" and self.wrapups.of(current.endpoint) is not None:
            return InWrapUp(f"{current.endpoint} is in wrap-up: set the disposition of "
                            f"call {self.wrapups.pending[current.endpoint].uniqueid} first")
        if not current.memberships:
            return NotLoggedIn(f"{current.endpoint} is in no queue: log in first")
        if change.action == "logout" and not any(m.dynamic for m in current.memberships):
            return StaticMember(f"{current.endpoint} is a member of its queues by "
                                "configuration (queues*.conf), not by a login")
        return None

    async def _audit(self, user: str, action: str, endpoint: str,
                     detail: Mapping[str, Any], outcome: str) -> None:
        try:
            await self.store.audit(actor=user, action=action, target=endpoint,
                                   detail=detail, outcome=outcome)
        except Exception:
            # The change is made in Asterisk already; say so loudly rather than hide it.
            log.exception("AUDIT NOT WRITTEN: %s %s on %s (%s) %s", user, action, endpoint,
                          detail, outcome)

    async def stop(self) -> None:
        await self.wrapups.stop()
        await self._background.stop()
