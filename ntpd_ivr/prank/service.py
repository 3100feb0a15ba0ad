"""The only code that changes strikes, and what the IVR asks on the call path.

- `action_for()` reads the in-memory view (ntpd_ivr/prank/view.py): no I/O per call.
- Strikes from detected silent calls and the audit entries of policy actions are written
  by a background writer, in order, each with its audit entry in one transaction, retried
  while PostgreSQL is down (bounded in memory). The view has them at once.
- A call-taker's disposition reaches `on_disposition` inside the disposition's own
  transaction (IncidentService's hook): prank/silent adds a strike, genuine clears them.
- A supervisor's unblock (`unblock`) writes at once and answers only once it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.ami.events import (
    AgentConnect,
    AmiEvent,
    ChannelTalkingStart,
    Hangup,
    QueueCallerJoin,
)
from ntpd_ivr.audit.trail import CONTROLLER, Entry, record
from ntpd_ivr.calls.values import CallStep
from ntpd_ivr.clock import event_time, utcnow
from ntpd_ivr.log import CallLogger
from ntpd_ivr.numbers import parse_caller
from ntpd_ivr.prank import store
from ntpd_ivr.prank.config import PrankPolicy
from ntpd_ivr.prank.model import PolicyAction
from ntpd_ivr.prank.policy import (
    CLEARING_DISPOSITIONS,
    STRIKING_DISPOSITIONS,
    decide,
    standing_of,
)
from ntpd_ivr.prank.signals import CallSignals, judge
from ntpd_ivr.prank.view import StrikeView
from ntpd_ivr.routing.config import RoutingConfig

log = logging.getLogger(__name__)

Job = Callable[[AsyncConnection], Awaitable[None]]
WRITE_BACKLOG_MAX = 10_000
WRITE_RETRY_SECONDS = 2.0
REFRESH_TIMEOUT_SECONDS = 5.0
# A live call whose Hangup never came (AMI cut) is forgotten after this long.
SIGNALS_MAX_AGE_SECONDS = 6 * 3600


class StepSink(Protocol):
    def submit(self, update: CallStep) -> asyncio.Future[None]: ...


class PrankService:
    def __init__(self, engine: AsyncEngine | None, routing: Callable[[], RoutingConfig],
                 steps: StepSink | None = None, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.routing = routing   # the live config: a reload applies to the next call
        self.steps = steps
        self.clock = clock
        self.view = StrikeView()
        self.calls: dict[str, CallSignals] = {}
        self._jobs: deque[tuple[str, Job]] = deque()
        self._job_added = asyncio.Event()
        self._idle = asyncio.Event()  # the writer has nothing left to store
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped = 0

    # ---- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._job_added = asyncio.Event()
        self._idle = asyncio.Event()
        await self.refresh()
        self._tasks = [asyncio.create_task(self._refresh_loop(), name="prank-refresh"),
                       asyncio.create_task(self._write_loop(), name="prank-writer")]

    async def stop(self, timeout: float = 3.0) -> None:  # noqa: ASYNC109
        if self._jobs and self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._jobs:
            log.warning("%d strike/audit writes not stored at stop", len(self._jobs))

    def state(self) -> dict[str, Any]:
        return {"view": "ok" if self.view.available else "unavailable",
                "numbers": self.view.numbers(), "last_error": self.view.last_error,
                "pending_writes": len(self._jobs), "dropped_writes": self._dropped,
                "live_calls": len(self.calls)}

    async def refresh(self) -> None:
        """Read the active strikes again; on any failure the view is unavailable (every
        caller strike-free) until a refresh succeeds."""
        if self.engine is None:
            self.view.failed("no database")
            return
        config = self.routing().prank
        longest = max([config.default, *config.regions.values()],
                      key=lambda p: p.window_hours + p.block_hours)
        since = self.clock() - timedelta(hours=longest.window_hours + longest.block_hours)
        started = time.monotonic()
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
                async with self.engine.connect() as conn:
                    strikes = await store.active_strikes(conn, since)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.view.available:
                log.warning("strike view unavailable, callers are treated as strike-free: "
                            "%s: %s", type(exc).__name__, exc)
            self.view.failed(f"{type(exc).__name__}: {exc}")
            return
        if not self.view.available:
            log.info("strike view loaded: %d number(s) with strikes", len(strikes))
        self.view.replace(strikes, started)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.routing().prank.refresh_seconds)
            await self.refresh()

    # ---- background writes -------------------------------------------------------------------

    def _enqueue(self, what: str, job: Job) -> None:
        if self.engine is None:
            return
        if len(self._jobs) >= WRITE_BACKLOG_MAX:
            dropped, _ = self._jobs.popleft()
            self._dropped += 1
            log.error("strike/audit backlog full (database down?): dropped %s", dropped)
        self._jobs.append((what, job))
        self._idle.clear()
        self._job_added.set()

    async def _write_loop(self) -> None:
        assert self.engine is not None or not self._jobs
        failing = False
        while True:
            if not self._jobs or self.engine is None:
                self._idle.set()
                self._job_added.clear()
                await self._job_added.wait()
                continue
            what, job = self._jobs[0]
            try:
                async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
                    async with self.engine.begin() as conn:
                        await job(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning("cannot store %s yet (retrying every %s s): %s: %s", what,
                                WRITE_RETRY_SECONDS, type(exc).__name__, exc)
                failing = True
                await asyncio.sleep(WRITE_RETRY_SECONDS)
                continue
            failing = False
            self._jobs.popleft()

    # ---- the call path (IVR) -------------------------------------------------------------

    def policy(self, region: str) -> PrankPolicy:
        return self.routing().prank.policy(region)

    def action_for(self, caller: str, region: str, *, legacy: bool) -> PolicyAction:
        """The policy's action for a call from `caller` (canonical) in `region`. In memory;
        never raises: any fault gives the strike-free action."""
        policy = self.policy(region)
        try:
            exempt = (not parse_caller(caller).is_number
                      or caller in self.routing().prank.exempt_numbers)
            times = self.view.times(caller)
            standing = None if times is None else standing_of(times, policy, self.clock())
            return decide(standing, policy, legacy=legacy, exempt=exempt)
        except Exception:
            log.exception("prank policy failed for %s; treated as strike-free", caller)
            return PolicyAction("none", "policy-error")

    def call_started(self, uniqueid: str, caller: str, region: str) -> None:
        """A 112 call entered the IVR: follow its silent-call signals until its Hangup."""
        now = time.time()
        if len(self.calls) > 1000:
            for key in [k for k, s in self.calls.items()
                        if now - s.started_at > SIGNALS_MAX_AGE_SECONDS]:
                del self.calls[key]
        self.calls[uniqueid] = CallSignals(uniqueid, caller, region, now)

    def dtmf(self, uniqueid: str) -> None:
        if (signals := self.calls.get(uniqueid)) is not None:
            signals.dtmf = True

    def call_blocked(self, uniqueid: str) -> None:
        """A blocked call ends by the policy, not by silence: it adds no strike."""
        self.calls.pop(uniqueid, None)

    def applied(self, uniqueid: str, caller: str, region: str, action: PolicyAction,
                what: str) -> None:
        """Audit a policy action on a call (prank.warned, .deprioritised, .blocked,
        .escaped), in the background: the caller never waits for it."""
        entry = Entry(self.clock(), CONTROLLER, f"prank.{what}", store.SUBJECT, caller,
                      {"call": uniqueid, "region": region, **action.as_detail()})

        async def job(conn: AsyncConnection) -> None:
            await record(conn, entry)

        self._enqueue(f"audit {entry.action} of {uniqueid}", job)

    # ---- AMI: silent-call signals ------------------------------------------------------------

    def on_event(self, event: AmiEvent) -> None:
        uniqueid = getattr(event, "uniqueid", None)
        if uniqueid is None or (signals := self.calls.get(uniqueid)) is None:
            return
        at = event_time(event)
        if isinstance(event, ChannelTalkingStart):
            signals.talking()
        elif isinstance(event, QueueCallerJoin):
            signals.queued_at = signals.queued_at or at
        elif isinstance(event, AgentConnect):
            signals.answered_at = signals.answered_at or at
        elif isinstance(event, Hangup):
            del self.calls[uniqueid]
            self._ended(signals, at)

    def _ended(self, signals: CallSignals, ended_at: float) -> None:
        policy = self.policy(signals.region)
        verdict = judge(signals, ended_at, policy.silent_after_answer_s)
        logger = CallLogger(log, signals.uniqueid)
        if self.steps is not None:
            try:
                step = CallStep(signals.uniqueid, ended_at, "silence.signals",
                                verdict.as_detail(signals))
                self.steps.submit(step)
            except Exception:
                logger.exception("silent-call signals not recorded")
        if not (verdict.silent and policy.enabled and policy.detect_silent):
            return
        if not parse_caller(signals.caller).is_number:
            return  # withheld/unknown: not one caller
        logger.info("silent call from %s (%s): a strike", signals.caller, verdict.hangup)
        at = datetime.fromtimestamp(ended_at, UTC)
        self._strike(store.Strike(signals.caller, at, "silent-detected", CONTROLLER,
                                  signals.uniqueid, signals.region))

    def _strike(self, strike: store.Strike) -> None:
        change = self.view.change(strike.number, strike.at)

        async def job(conn: AsyncConnection) -> None:
            if not await store.add_strike(conn, strike):
                self.view.forget(change)  # this call already had one (a disposition)
            else:
                self.view.committed(change)

        self._enqueue(f"strike of {strike.number} ({strike.uniqueid})", job)

    # ---- dispositions (IncidentService hook, inside its transaction) ------------------------

    async def on_disposition(self, conn: AsyncConnection, call: str, disposition: str,
                             actor: str, at: datetime) -> None:
        if disposition not in STRIKING_DISPOSITIONS | CLEARING_DISPOSITIONS:
            return
        signals = self.calls.get(call)
        found = ((signals.caller, signals.region) if signals is not None
                 else await store.caller_of_call(conn, call))
        if found is None or not parse_caller(found[0]).is_number:
            log.info("disposition %s of call %s: no caller number, no strike change",
                     disposition, call, extra={"call_id": call})
            return
        number, region = found
        if disposition in CLEARING_DISPOSITIONS:
            await store.clear_strikes(conn, number, at, actor, disposition, call)
            change = self.view.change(number, None)
        else:
            if not await store.add_strike(conn, store.Strike(number, at, disposition, actor,
                                                             call, region)):
                return
            change = self.view.change(number, at)
        # Committed with the disposition a moment later; should it roll back, the next
        # refresh corrects the view.
        self.view.committed(change)

    # ---- supervisors ------------------------------------------------------------------------

    async def unblock(self, number: str, actor: str) -> int:
        """Clear the number's strikes (and so its block) now; raises if not stored."""
        if self.engine is None:
            raise RuntimeError("no database")
        at = self.clock()
        async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
            async with self.engine.begin() as conn:
                cleared = await store.clear_strikes(conn, number, at, actor, "unblock")
        self.view.committed(self.view.change(number, None))
        log.info("%s unblocked %s (%d strike(s) cleared)", actor, number, cleared)
        return cleared

    async def listing(self, number: str | None = None) -> list[dict[str, Any]]:
        """Numbers with active strikes and their standing under their region's policy."""
        if self.engine is None:
            raise RuntimeError("no database")
        config = self.routing().prank
        since = self.clock() - timedelta(hours=max(
            p.window_hours + p.block_hours for p in [config.default, *config.regions.values()]))
        async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
            async with self.engine.connect() as conn:
                rows = await store.strike_rows(conn, number, since)
        return summarise(rows, self.routing(), self.clock())


def summarise(rows: list[dict[str, Any]], routing: RoutingConfig,
              now: datetime) -> list[dict[str, Any]]:
    """Strike rows -> one entry per number: active strikes, level, block end."""
    by_number: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_number.setdefault(row["number"], []).append(row)
    result = []
    for number, strikes in sorted(by_number.items()):
        region = next((s["region"] for s in strikes if s["region"]), None) or \
            routing.default_region
        policy = routing.prank.policy(region)
        active = [s["at"] for s in strikes if s["cleared_at"] is None]
        standing = standing_of(active, policy, now)
        action = decide(standing, policy)
        result.append({"number": number, "region": region, "strikes": standing.strikes,
                       "level": action.level,
                       "blocked_until": standing.blocked_until.isoformat()
                       if standing.blocked_until else None,
                       "last_strike": max(s["at"] for s in strikes).isoformat(),
                       "reasons": sorted({s["reason"] for s in strikes
                                          if s["cleared_at"] is None})})
    return result
