"""Wrap-up: every call gets a disposition before its call-taker takes the next one.

When a call that popped on a call-taker's screen ends (AMI AgentComplete) without a
disposition, the call-taker's phone is paused in every queue (AMI QueuePause, reason
`wrap-up`) until the disposition is set (POST /api/calls/{uniqueid}/disposition, or the
incident written from the call), or until the routing config's
`[workspace] wrapup_limit_seconds` (default 120): then it is unpaused and the missing
disposition is audited (`call.disposition-missing`). A call-taker cannot unpause
themselves meanwhile (409 `wrap-up`). A phone nobody watches on a screen gets no pop, so
no wrap-up: nobody could set the disposition.

A controller restart: pending wrap-ups are rows of `wrapups` (migration 0008); after every
AMI login, with presence read again from QueueStatus, each is restored (its timer armed
again for what is left), or ended if its disposition came meanwhile, its limit passed, or
its phone is no longer paused in wrap-up. A phone paused in wrap-up with no pending row
(the row was never written: the database was down) is released, so nobody stays paused
by a wrap-up the controller no longer knows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ntpd_ivr.ami.events import AmiActions
from ntpd_ivr.background import Background
from ntpd_ivr.clock import utcnow
from ntpd_ivr.errors import AmiError
from ntpd_ivr.workspace.model import Presence, interface_of

log = logging.getLogger(__name__)

REASON = "wrap-up"
DEFAULT_LIMIT_SECONDS = 120
# How a wrap-up ended: its disposition was set; the limit passed without one; the phone
# was no longer paused in wrap-up (unpaused outside the screen, or paused for another
# reason); pausing it failed.
DISPOSED, EXPIRED, RELEASED, FAILED = "disposition", "expired", "released", "failed"
WITHOUT_DISPOSITION = frozenset({EXPIRED, RELEASED, FAILED})


@dataclass(frozen=True)
class WrapUp:
    uniqueid: str  # the caller's channel: the call whose disposition is awaited
    endpoint: str
    started_at: datetime
    deadline: datetime

    def to_json(self) -> dict[str, Any]:
        return {"uniqueid": self.uniqueid, "endpoint": self.endpoint,
                "started_at": self.started_at.isoformat(),
                "deadline": self.deadline.isoformat()}


def paused_in_wrapup(presence: Presence) -> bool:
    return any(m.paused and m.reason == REASON for m in presence.memberships)


def after_restart(wrapup: WrapUp, *, disposed: bool, paused: bool, now: datetime) -> str | None:
    """What becomes of a wrap-up found pending after a restart: its outcome, or None to
    keep it (the phone is still paused in wrap-up and the limit is ahead)."""
    if disposed:
        return DISPOSED
    if not paused:
        return RELEASED
    if now >= wrapup.deadline:
        return EXPIRED
    return None


class WrapUpStore(Protocol):
    async def disposed(self, uniqueid: str) -> bool: ...

    async def start_wrapup(self, wrapup: WrapUp) -> None: ...

    async def end_wrapup(self, wrapup: WrapUp, outcome: str, at: datetime) -> None: ...

    async def pending_wrapups(self) -> list[WrapUp]: ...

    async def audit(self, *, actor: str, action: str, target: str,
                    detail: Mapping[str, Any], outcome: str) -> None: ...


Publish = Callable[[str, str, Mapping[str, Any]], None]  # (endpoint, kind, data)


class WrapUps:
    """The call-takers' wrap-ups; changed only here, one endpoint at a time."""

    def __init__(self, ami: AmiActions, store: WrapUpStore, *, limit: Callable[[], float],
                 refresh: Callable[[str], Awaitable[Presence]], publish: Publish,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.ami = ami
        self.store = store
        self.limit = limit
        self.refresh = refresh
        self.publish = publish
        self.clock = clock
        self.pending: dict[str, WrapUp] = {}  # endpoint -> its wrap-up
        self._timers: dict[str, asyncio.Task[Any]] = {}
        self._background = Background("wrap-up")
        self._locks: dict[str, asyncio.Lock] = {}

    def of(self, endpoint: str) -> WrapUp | None:
        return self.pending.get(endpoint)

    def _lock(self, endpoint: str) -> asyncio.Lock:
        return self._locks.setdefault(endpoint, asyncio.Lock())

    async def _pause(self, endpoint: str, paused: bool) -> None:
        action = {"Action": "QueuePause", "Interface": interface_of(endpoint),
                  "Paused": "true" if paused else "false"}
        if paused:
            action["Reason"] = REASON
        await self.ami.action(action)

    async def _presence(self, endpoint: str) -> Presence | None:
        try:
            presence = await self.refresh(endpoint)
        except AmiError as exc:
            log.warning("presence of %s not read back: %s", endpoint, exc)
            return None
        self.publish(endpoint, "presence", presence.to_json())
        return presence

    # --- a call ends; a disposition comes ---------------------------------------------------

    async def call_ended(self, endpoint: str, uniqueid: str) -> None:
        """AgentComplete of a call that popped on this endpoint's screen."""
        async with self._lock(endpoint):
            earlier = self.pending.get(endpoint)
            if earlier is not None:  # unpaused outside the screen and took another call
                await self._end(earlier, RELEASED, unpause=False)
            try:
                if await self.store.disposed(uniqueid):
                    log.info("wrap-up of %s: the disposition is already set", endpoint,
                             extra={"call_id": uniqueid})
                    return
            except Exception:
                log.exception("wrap-up of %s: disposition not looked up; pausing", endpoint,
                              extra={"call_id": uniqueid})
            try:
                presence = await self.refresh(endpoint)
            except AmiError as exc:
                log.warning("wrap-up of %s: no presence from Asterisk, not paused: %s",
                            endpoint, exc, extra={"call_id": uniqueid})
                return
            if presence.memberships and presence.state == "paused":
                log.info("wrap-up of %s: already paused (%s), left as it is", endpoint,
                         presence.reason, extra={"call_id": uniqueid})
                return
            now = self.clock()
            wrapup = WrapUp(uniqueid, endpoint, now, now + timedelta(seconds=self.limit()))
            try:
                await self.store.start_wrapup(wrapup)
            except Exception:
                # Paused all the same; the pause outlives a restart only as an orphan,
                # which the next AMI login releases (see the module's docstring).
                log.exception("wrap-up of %s not written to the database", endpoint,
                              extra={"call_id": uniqueid})
            try:
                await self._pause(endpoint, True)
            except AmiError as exc:
                log.warning("wrap-up of %s: pause refused: %s", endpoint, exc,
                            extra={"call_id": uniqueid})
                await self._end(wrapup, FAILED, unpause=False)
                return
            self._hold(wrapup)
            log.info("wrap-up of %s: paused until the disposition, at most until %s",
                     endpoint, wrapup.deadline.isoformat(), extra={"call_id": uniqueid})
            self.publish(endpoint, "wrapup", wrapup.to_json())
            await self._presence(endpoint)

    async def disposition_set(self, uniqueid: str) -> None:
        """A disposition was set for this call (by anyone): its wrap-up ends."""
        for endpoint, wrapup in list(self.pending.items()):
            if wrapup.uniqueid != uniqueid:
                continue
            async with self._lock(endpoint):
                if self.pending.get(endpoint) is wrapup:
                    await self._end(wrapup, DISPOSED)

    def _hold(self, wrapup: WrapUp) -> None:
        self.pending[wrapup.endpoint] = wrapup
        old = self._timers.pop(wrapup.endpoint, None)
        if old is not None:
            old.cancel()
        self._timers[wrapup.endpoint] = self._background.spawn(
            self._expire(wrapup), name=f"wrapup-{wrapup.endpoint}")

    async def _expire(self, wrapup: WrapUp) -> None:
        await asyncio.sleep(max(0.0, (wrapup.deadline - self.clock()).total_seconds()))
        async with self._lock(wrapup.endpoint):
            if self.pending.get(wrapup.endpoint) is not wrapup:
                return
            self._timers.pop(wrapup.endpoint, None)  # this task: not cancelled by _end
            try:
                disposed = await self.store.disposed(wrapup.uniqueid)
            except Exception:
                log.exception("wrap-up of %s: disposition not looked up", wrapup.endpoint,
                              extra={"call_id": wrapup.uniqueid})
                disposed = False
            await self._end(wrapup, DISPOSED if disposed else EXPIRED)

    async def _end(self, wrapup: WrapUp, outcome: str, *, unpause: bool = True) -> None:
        """Unpause (if still paused in wrap-up), record how it ended, tell the screen.
        Called with the endpoint's lock held."""
        if self.pending.get(wrapup.endpoint) is wrapup:
            del self.pending[wrapup.endpoint]
        timer = self._timers.pop(wrapup.endpoint, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        if unpause:
            try:
                if paused_in_wrapup(await self.refresh(wrapup.endpoint)):
                    await self._pause(wrapup.endpoint, False)
                elif outcome != DISPOSED:
                    outcome = RELEASED
            except AmiError as exc:
                # Asterisk is away: the next AMI login restores or releases it.
                log.warning("wrap-up of %s: unpause failed: %s", wrapup.endpoint, exc,
                            extra={"call_id": wrapup.uniqueid})
        try:
            await self.store.end_wrapup(wrapup, outcome, self.clock())
        except Exception:
            log.exception("AUDIT NOT WRITTEN: wrap-up of %s ended (%s)", wrapup.endpoint,
                          outcome, extra={"call_id": wrapup.uniqueid})
        level = logging.WARNING if outcome in WITHOUT_DISPOSITION else logging.INFO
        log.log(level, "wrap-up of %s ended: %s", wrapup.endpoint, outcome,
                extra={"call_id": wrapup.uniqueid})
        self.publish(wrapup.endpoint, "wrapup.ended",
                     {"uniqueid": wrapup.uniqueid, "outcome": outcome})
        await self._presence(wrapup.endpoint)

    # --- after a restart ----------------------------------------------------------------

    async def restore(self, presence: Mapping[str, Presence],
                      before_shown: Callable[[str, str], Awaitable[None]] | None = None
                      ) -> None:
        """After every AMI login, with presence just read from QueueStatus. `before_shown`
        (endpoint, uniqueid) runs before a restored wrap-up is held and pushed: the
        screen's call is read first."""
        try:
            rows = await self.store.pending_wrapups()
        except Exception:
            log.exception("pending wrap-ups not read: phones paused in wrap-up are released")
            rows = []
        known = {w.endpoint for w in rows}
        for wrapup in rows:
            async with self._lock(wrapup.endpoint):
                paused = paused_in_wrapup(presence.get(wrapup.endpoint, Presence(wrapup.endpoint)))
                try:
                    disposed = await self.store.disposed(wrapup.uniqueid)
                except Exception:
                    disposed = False
                outcome = after_restart(wrapup, disposed=disposed, paused=paused,
                                        now=self.clock())
                if outcome is None:
                    if before_shown is not None:
                        await before_shown(wrapup.endpoint, wrapup.uniqueid)
                    self._hold(wrapup)
                    log.info("wrap-up of %s restored, until %s", wrapup.endpoint,
                             wrapup.deadline.isoformat(), extra={"call_id": wrapup.uniqueid})
                    self.publish(wrapup.endpoint, "wrapup", wrapup.to_json())
                else:
                    self.pending[wrapup.endpoint] = wrapup
                    await self._end(wrapup, outcome, unpause=paused)
        for endpoint, found in presence.items():
            if endpoint in known or not paused_in_wrapup(found):
                continue
            async with self._lock(endpoint):
                try:
                    await self._pause(endpoint, False)
                except AmiError as exc:
                    log.warning("orphan wrap-up pause of %s not released: %s", endpoint, exc)
                    continue
                log.warning("%s was paused in a wrap-up the controller has no record of: "
                            "released", endpoint)
                try:
                    await self.store.audit(actor="controller", action="wrapup.released",
                                           target=endpoint, detail={}, outcome="orphan")
                except Exception:
                    log.exception("AUDIT NOT WRITTEN: orphan wrap-up of %s released",
                                  endpoint)
                await self._presence(endpoint)

    async def stop(self) -> None:
        await self._background.stop()
