"""A FastAGI session's call must be one that AMI sees: what a session may write, and how a
call that AMI never confirms ends.

FastAGI proves nothing about the call it names (`agi_uniqueid`, `agi_callerid` are what
the client says), so:
- who the caller is (number, trunk, linked id) is AMI's alone: the IVR's records go
  through `AgiRecords`, which drops those fields (the dialled number stays the IVR's: it
  is what the routing used, `112` for a request without one); the tracker (Newchannel, the
  resync's CoreShowChannels) and the CDR reconciliation write them. A session that names
  a real call cannot change its caller number;
- one session per call: a second session naming a call that already had one on this
  controller is refused (`session()` -> False);
- the other node's calls (two nodes: its dialplan falls back to this controller when its
  own is down) are recorded by the other controller, which may be the one that is down:
  their identity, from the other node's AMI (`seen(..., identity)`), is written here
  for the calls that had their session here;
- a session's call that AMI has not seen is *pending*. It is confirmed when AMI shows it
  (the local node's events or resync, the other node's in the two-node layout, or the
  CDR). It is closed with the disposition `unconfirmed` only once every AMI session has
  been logged in, resynced and caught up with its events for `agi.confirm_seconds`
  since the session began (or since the last login, if later), and, when AMI was
  logged in again after the session began (the call may have ended meanwhile, unseen),
  once the CDR has been read after that login. While AMI is down nothing is closed: the
  records are kept, and the resync or the CDR confirms them later.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Protocol

from ntpd_ivr.agi.protocol import AgiRequest
from ntpd_ivr.calls.values import UNCONFIRMED, CallStep, CallUpdate, RecordSink, WaitedSink

log = logging.getLogger(__name__)

# Calls AMI showed, and calls that had a session, kept this many (about a minute and a
# half of calls at 200 calls/s; a session comes within a second or two of its Newchannel).
MEMORY = 20_000
CHECK_SECONDS = 1.0
# What a session may not tell about the caller: AMI tells it.
IDENTITY_FIELDS = ("caller_number", "trunk", "linkedid")


class AmiView(Protocol):
    """What the confirmation needs of an AMI session (AmiClient)."""

    @property
    def connected(self) -> bool: ...

    @property
    def backlog(self) -> int: ...

    logged_in_at: float | None


class AgiRecords:
    """The IVR's record sink: the record keeper, minus the caller's identity."""

    def __init__(self, records: WaitedSink) -> None:
        self.records = records

    def submit(self, update: CallUpdate | CallStep) -> asyncio.Future[None]:
        if isinstance(update, CallUpdate) and any(getattr(update, name) is not None
                                                  for name in IDENTITY_FIELDS):
            update = dataclasses.replace(update, caller_number=None, trunk=None,
                                         linkedid=None)
        return self.records.submit(update)

    def urge(self) -> None:
        self.records.urge()


def _remember(memory: OrderedDict[str, None], key: str) -> None:
    memory[key] = None
    memory.move_to_end(key)
    while len(memory) > MEMORY:
        memory.popitem(last=False)


class CallConfirmations:
    def __init__(self, records: RecordSink, confirm_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.records = records
        self.confirm_seconds = confirm_seconds
        self.clock = clock
        self._pending: dict[str, float] = {}  # uniqueid -> when its session began
        self._seen: OrderedDict[str, None] = OrderedDict()
        # The other node's calls: who the caller is, as its AMI said (written if and once
        # the call has its session here).
        self._identities: OrderedDict[str, CallUpdate] = OrderedDict()
        self._sessions: OrderedDict[str, None] = OrderedDict()
        self._watches: dict[str, AmiView] = {}
        self._resynced_at: dict[str, float] = {}
        # The CDR reconciliation: whether there is one, and when it last read the CDR.
        self.cdr_configured = False
        self.cdr_read_at: float | None = None
        self.closed_total = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> frozenset[str]:
        return frozenset(self._pending)

    def watch(self, name: str, ami: AmiView) -> None:
        """An AMI session whose events confirm calls (the local node's, the other's)."""
        self._watches[name] = ami

    def session(self, request: AgiRequest) -> bool:
        """A FastAGI session passed the address and secret checks: False refuses it (a
        second session for the same call); else its call is pending until AMI shows it."""
        uniqueid = request.uniqueid
        if uniqueid in self._sessions:
            return False
        _remember(self._sessions, uniqueid)
        if uniqueid not in self._seen:
            self._pending[uniqueid] = self.clock()
        identity = self._identities.pop(uniqueid, None)
        if identity is not None:
            self._write(identity)
        return True

    def seen(self, uniqueid: str, identity: CallUpdate | None = None) -> None:
        """AMI showed this 112 call (a Newchannel, a resync's CoreShowChannel). `identity`:
        the call is the other node's, and this is its arrival as that node's AMI told it."""
        _remember(self._seen, uniqueid)
        self._pending.pop(uniqueid, None)
        if identity is None:
            return
        if uniqueid in self._sessions:
            self._write(identity)
            return
        self._identities[uniqueid] = identity
        self._identities.move_to_end(uniqueid)
        while len(self._identities) > MEMORY:
            self._identities.popitem(last=False)

    def _write(self, update: CallUpdate) -> None:
        try:
            self.records.submit(update).add_done_callback(_report_failure)
        except Exception:  # the keeper stopped: the CDR still names the call
            log.exception("call %s: its identity from AMI not queued", update.uniqueid,
                          extra={"call_id": update.uniqueid})

    def resynced(self, name: str) -> None:
        """The AMI session `name` listed the live calls after its latest login."""
        self._resynced_at[name] = self.clock()

    def cdr_read(self, uniqueids: Iterable[str], at: float) -> None:
        """The CDR reconciliation read these calls (ended ones) at `at`."""
        for uniqueid in uniqueids:
            self._pending.pop(uniqueid, None)
        self.cdr_read_at = at

    def _ready(self) -> float | None:
        """The latest login of all AMI sessions when every one is logged in, resynced
        since and caught up with its events; None otherwise."""
        latest = 0.0
        for name, ami in self._watches.items():
            logged_in = ami.logged_in_at
            if not ami.connected or logged_in is None or ami.backlog:
                return None
            if self._resynced_at.get(name, float("-inf")) < logged_in:
                return None
            latest = max(latest, logged_in)
        return latest if self._watches else None

    def due(self, now: float) -> list[str]:
        """The pending calls to close as unconfirmed now."""
        logged_in = self._ready()
        if logged_in is None:
            return []
        due = []
        for uniqueid, began in self._pending.items():
            if now - max(began, logged_in) < self.confirm_seconds:
                continue
            if logged_in > began and self.cdr_configured and (
                    self.cdr_read_at is None or self.cdr_read_at < logged_in):
                continue  # AMI came back after the session: the CDR may know the call
            due.append(uniqueid)
        return due

    def check(self) -> list[str]:
        """Close the calls that are due; returns their uniqueids."""
        now = self.clock()
        closed = self.due(now)
        for uniqueid in closed:
            del self._pending[uniqueid]
            log.warning("call %s: no AMI event for it within %g s of AMI time: closed as "
                        "%s (a FastAGI session for a call Asterisk did not show)", uniqueid,
                        self.confirm_seconds, UNCONFIRMED, extra={"call_id": uniqueid})
            update = CallUpdate(uniqueid=uniqueid, at=now, ended_at=now,
                                disposition=UNCONFIRMED,
                                hangup_cause_text="not confirmed by AMI")
            self._write(update)
            self.closed_total += 1
        return closed

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="calls-confirm")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                self.check()
            except Exception:  # a bug here must not stop the checks for good
                log.exception("call confirmation check failed")


def _report_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a call record from the confirmation did not reach the spool: %s",
                  future.exception())
