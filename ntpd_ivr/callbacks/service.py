"""The callbacks' service: the only code that changes the callback list.

- `sweep()` takes the abandoned calls from `calls` (the records the spool never loses)
  into the list, and clears the callbacks of callers who got through by themselves. It
  runs soon after a 112 call ends (1.5 s after it, and at most once in 5 s), every
  `sweep_seconds`, and at start: a controller that was down or a database that was away
  loses no abandoned caller.
- `call_back()` rings the call-taker's phone first (AMI Originate, asynchronous), then the
  dialplan's [ntpd-callback] dials the caller on the callback line, marked as a center
  callback (NTPD_CENTER_CALLBACK=1, `Priority: psap-callback`). The outcome comes back as
  the Originate's answer (the call-taker's leg) and the dialplan's UserEvent (the
  caller's), and is recorded with the attempt, audited, in one transaction.
- Retries: a busy or unanswered callback is called again when due, through the same
  call-taker, until the configured number of attempts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import AmiActions, AmiEvent, CallbackResult, OriginateResponse
from ntpd_ivr.audit.trail import CONTROLLER, Entry, record
from ntpd_ivr.background import Background
from ntpd_ivr.callbacks import model
from ntpd_ivr.callbacks.model import (
    Abandoned,
    CallbackError,
    InProgress,
    NoLine,
    NotCallable,
    NotFound,
    NotOpen,
    OpenCallback,
    Policy,
)
from ntpd_ivr.callbacks.tables import Callback, CallbackAttempt, CallbackCall
from ntpd_ivr.calls import repository as calls_repository
from ntpd_ivr.calls.values import KIND_TRUNK_ATTEMPT
from ntpd_ivr.clock import local_midnight, utcnow
from ntpd_ivr.errors import AmiError
from ntpd_ivr.numbers import E164, trunk_number
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.settings import CallbackSettings

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=1)  # abandoned calls older than this are not taken in any more
SWEEP_DELAY_SECONDS = 1.5  # after a call ends: its record is on its way through the spool
# Sweeps that calls' ends ask for start at least this long after the one before: under
# load a call ends every few milliseconds, and a sweep every 1.5 s (six statements) was
# 2.5 % of path a's CPU at 40 calls/s (docs/performance.md). An abandoned caller is on
# the list 1.5-5 s after the call ended, as before a surge 1.5 s.
SWEEP_SPACING_SECONDS = 5.0
MAX_LIST = 200


def _jsonable(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def policy_of(settings: CallbackSettings) -> Policy:
    return Policy(dedupe=timedelta(minutes=settings.dedupe_minutes),
                  max_attempts=settings.max_attempts,
                  retry=timedelta(minutes=settings.retry_minutes))


@dataclass(frozen=True)
class Attempt:
    callback_id: int
    attempt_id: int
    number: str          # as dialled: in the callback line's number format
    endpoint: str
    status_before: str
    attempts_before: int


def originate_action(attempt: Attempt, settings: CallbackSettings) -> dict[str, str]:
    """The AMI Originate of one attempt: the call-taker's phone, then [ntpd-callback]."""
    variables = {f"__{dp.VAR_CENTER_CALLBACK}": "1",  # inherited by the caller's leg
                 dp.VAR_CALLBACK_ID: str(attempt.callback_id),
                 dp.VAR_CALLBACK_NUMBER: attempt.number,
                 dp.VAR_CALLBACK_TRUNK: settings.trunk,
                 dp.VAR_CALLBACK_RING: str(settings.caller_ring_seconds),
                 dp.VAR_CALLBACK_PRIORITY: "1" if settings.priority_header else "0",
                 dp.VAR_CALLBACK_CALLER_ID: f"112 <{settings.caller_id}>"}
    return {"Action": "Originate", "Channel": f"PJSIP/{attempt.endpoint}",
            "Context": dp.CONTEXT_CALLBACK, "Exten": "s", "Priority": "1",
            "Timeout": str(settings.taker_ring_seconds * 1000),
            "CallerID": f"Callback 112 <{attempt.number}>", "Async": "true",
            "Variable": ",".join(f"{k}={v}" for k, v in variables.items())}


class CallbackService:
    def __init__(self, engine: AsyncEngine, ami: AmiActions, settings: CallbackSettings,
                 *, changed: Callable[[], None] = lambda: None,
                 routing: Callable[[], RoutingConfig] | None = None) -> None:
        self.engine = engine
        # the live routing config: how the callback line writes numbers (number_format)
        self.routing = routing or (lambda: RoutingConfig.minimal(""))
        self.ami = ami
        self.settings = settings
        self.policy = policy_of(settings)
        self.changed = changed
        self.open: list[dict[str, Any]] = []  # the open list as last read, for the wall
        self.today: dict[str, Any] = {}
        self._results: dict[str, asyncio.Future[str]] = {}  # callback id -> caller leg
        self._originated: dict[str, asyncio.Future[OriginateResponse]] = {}  # ActionID ->
        self._sweep_wanted = asyncio.Event()
        self._sweep_lock = asyncio.Lock()
        self._background = Background("callbacks")

    # --- from AMI: cheap ----------------------------------------------------------------

    def on_event(self, event: AmiEvent) -> None:
        if isinstance(event, CallbackResult):
            waiting = self._results.get(event.callback)
            if waiting is not None and not waiting.done():
                waiting.set_result(event.result)
        elif isinstance(event, OriginateResponse):
            leg = self._originated.get(event.action_id)
            if leg is not None and not leg.done():
                leg.set_result(event)

    def call_ended(self) -> None:
        """A 112 call ended (abandoned, or through): sweep soon."""
        self._sweep_wanted.set()

    def summary(self) -> dict[str, Any]:
        return {"open": self.open, "today": self.today}

    # --- the list -----------------------------------------------------------------------

    async def sweep(self, now: datetime | None = None) -> int:
        """Abandoned calls into the list; callers who got through cleared. Returns how
        many abandoned calls were taken in."""
        now = now or utcnow()
        async with self._sweep_lock, self.engine.begin() as conn:
            await self._release_stuck(conn, now)
            taken = await self._take_abandoned(conn, now)
            await self._clear_through(conn, now)
        await self.reload(now)
        return taken

    async def _release_stuck(self, conn: AsyncConnection, now: datetime) -> None:
        """A callback left `calling` by a controller that stopped mid-attempt would be
        refused forever (409 in-progress): past any attempt's longest time, it is due
        again, and its attempt is closed as failed."""
        cb, a = Callback.__table__, CallbackAttempt.__table__
        longest = timedelta(seconds=self.settings.taker_ring_seconds
                            + self.settings.caller_ring_seconds + 120)
        live = {int(key) for key in self._results}
        stuck = (await conn.execute(
            update(Callback).where(cb.c.status == model.CALLING,
                                   cb.c.last_attempt_at < now - longest,
                                   cb.c.id.not_in(live))
            .values(status=model.WAITING, next_attempt_at=now)
            .returning(cb.c.id))).scalars().all()
        for callback_id in stuck:
            await conn.execute(update(CallbackAttempt).where(
                a.c.callback_id == callback_id, a.c.outcome.is_(None)).values(
                outcome=model.FAILED, detail="controller stopped during the attempt",
                ended_at=now))
            await record(conn, Entry(now, CONTROLLER, "callback.released", "callback",
                                     str(callback_id), {"reason": "attempt never finished"}))
            log.warning("callback %d was left calling: due again", callback_id)

    async def _take_abandoned(self, conn: AsyncConnection, now: datetime) -> int:
        # Not taken yet, and not put through to an agency's trunk that answered (a direct
        # dispatch: no call-taker's AgentConnect says so, its record may say
        # hung-up-in-ivr).
        rows = (await conn.execute(calls_repository.abandoned_since(
            model.ABANDONED_DISPOSITIONS, now - LOOKBACK,
            taken=CallbackCall.__table__.c.uniqueid, trunk_kind=KIND_TRUNK_ATTEMPT))).all()
        if not rows:
            return 0
        cb = Callback.__table__
        open_rows = (await conn.execute(
            select(cb.c.id, cb.c.caller_number, cb.c.last_abandoned_at)
            .where(cb.c.status.in_(model.OPEN),
                   cb.c.caller_number.in_({r.caller_number for r in rows})))).all()
        open_callbacks = {r.id: OpenCallback(*r) for r in open_rows}
        for uniqueid, number, ended_at in rows:
            call = Abandoned(uniqueid, number or "", ended_at)
            callback_id: int | None = None
            if model.callable_number(call.caller_number):
                callback_id = model.joins(call, open_callbacks.values(), self.policy)
                if callback_id is None:
                    callback_id = (await conn.execute(insert(Callback).values(
                        caller_number=call.caller_number, status=model.WAITING,
                        abandoned_at=call.at, last_abandoned_at=call.at, abandon_count=1)
                        .returning(cb.c.id))).scalar_one()
                    action = "callback.added"
                else:
                    await conn.execute(update(Callback).where(cb.c.id == callback_id).values(
                        abandon_count=cb.c.abandon_count + 1,
                        last_abandoned_at=max(call.at,
                                              open_callbacks[callback_id].last_abandoned_at)))
                    action = "callback.joined"
                open_callbacks[callback_id] = OpenCallback(
                    callback_id, call.caller_number,
                    max(call.at, open_callbacks[callback_id].last_abandoned_at)
                    if callback_id in open_callbacks else call.at)
                await record(conn, Entry(
                    now, CONTROLLER, action, "callback", str(callback_id),
                    {"uniqueid": uniqueid, "abandoned_at": call.at.isoformat()}))
                log.info("abandoned call joins callback %d (%s)", callback_id, action,
                         extra={"call_id": uniqueid})
            else:
                log.info("abandoned call without a number to call back (%s)", number,
                         extra={"call_id": uniqueid})
            await conn.execute(insert(CallbackCall).values(
                uniqueid=uniqueid, callback_id=callback_id, abandoned_at=call.at))
        return len(rows)

    async def _clear_through(self, conn: AsyncConnection, now: datetime) -> None:
        cb = Callback.__table__
        # A later call of the number answered by a call-taker, or put through to an
        # agency's trunk that answered.
        by_taker, by_agency = calls_repository.through_since(
            cb.c.caller_number, cb.c.last_abandoned_at, KIND_TRUNK_ATTEMPT)
        through = by_taker.union_all(by_agency).limit(1).scalar_subquery()
        cleared = (await conn.execute(
            update(Callback)
            .where(cb.c.status.in_((model.WAITING, model.NO_ANSWER, model.BUSY)),
                   or_(by_taker.exists(), by_agency.exists()))
            .values(status=model.CLEARED, closed_at=now, next_attempt_at=None,
                    cleared_by=through)
            .returning(cb.c.id, cb.c.cleared_by))).all()
        for callback_id, uniqueid in cleared:
            await record(conn, Entry(now, CONTROLLER, "callback.cleared", "callback",
                                     str(callback_id), {"through": uniqueid}))
            log.info("callback %d cleared: the caller got through", callback_id,
                     extra={"call_id": uniqueid or "-"})

    async def reload(self, now: datetime | None = None) -> None:
        now = now or utcnow()
        self.open = await self.listing(open_only=True)
        since = local_midnight(now)  # today, where this machine is
        cb = Callback.__table__
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(cb.c.status, cb.c.abandoned_at,
                                              cb.c.first_attempt_at)
                                       .where(cb.c.abandoned_at >= since))).all()
        self.today = model.figures([model.CallbackRow(*r) for r in rows])
        self.changed()

    async def listing(self, *, open_only: bool = False, limit: int = MAX_LIST
                   ) -> list[dict[str, Any]]:
        cb = Callback.__table__
        query = select(cb).order_by(cb.c.abandoned_at.desc()).limit(limit)
        if open_only:
            query = query.where(cb.c.status.in_(model.OPEN))
        async with self.engine.connect() as conn:
            return [_jsonable(r) for r in (await conn.execute(query)).mappings()]

    async def attempts(self, callback_id: int) -> list[dict[str, Any]]:
        a = CallbackAttempt.__table__
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(a).where(a.c.callback_id == callback_id)
                                      .order_by(a.c.started_at, a.c.id))
            return [_jsonable(r) for r in rows.mappings()]

    # --- calling back -------------------------------------------------------------------

    async def call_back(self, callback_id: int, actor: str, endpoint: str) -> dict[str, Any]:
        """Start an attempt (audited) and return the callback as it is now; the attempt
        itself runs in a task of its own and records its outcome."""
        if not self.settings.trunk:
            raise NoLine("no callback line is configured (callbacks.trunk)")
        attempt = await self._start(callback_id, actor, endpoint)
        self._background.spawn(self._run(attempt), f"callback-{callback_id}")
        await self.reload()
        return next((c for c in self.open if c["id"] == callback_id), {"id": callback_id})

    async def escalate(self, caller_number: str, uniqueid: str, actor: str,
                       endpoint: str) -> dict[str, Any]:
        """A text session escalated to a voice callback (ntpd_ivr/texts): the number's open
        callback, or a new one with the session as its call, called back at once through
        the same path as an abandoned call's (call_back)."""
        if not self.settings.trunk:
            raise NoLine("no callback line is configured (callbacks.trunk)")
        if not model.callable_number(caller_number):
            raise NotFound(f"{caller_number!r} cannot be called back")
        cb = Callback.__table__
        now = utcnow()
        async with self._sweep_lock, self.engine.begin() as conn:
            callback_id = (await conn.execute(
                select(cb.c.id).where(cb.c.status.in_(model.OPEN),
                                      cb.c.caller_number == caller_number)
                .order_by(cb.c.id.desc()).limit(1))).scalar_one_or_none()
            if callback_id is None:
                callback_id = (await conn.execute(insert(Callback).values(
                    caller_number=caller_number, status=model.WAITING, abandoned_at=now,
                    last_abandoned_at=now, abandon_count=1).returning(cb.c.id))).scalar_one()
                await record(conn, Entry(now, actor, "callback.added", "callback",
                                         str(callback_id), {"uniqueid": uniqueid,
                                                            "from": "text-session"}))
            taken = CallbackCall.__table__
            if (await conn.execute(select(taken.c.uniqueid).where(
                    taken.c.uniqueid == uniqueid))).first() is None:
                await conn.execute(insert(CallbackCall).values(
                    uniqueid=uniqueid, callback_id=callback_id, abandoned_at=now))
        return await self.call_back(int(callback_id), actor, endpoint)

    async def _start(self, callback_id: int, actor: str, endpoint: str) -> Attempt:
        cb, a = Callback.__table__, CallbackAttempt.__table__
        now = utcnow()
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(cb).where(cb.c.id == callback_id)
                                      .with_for_update())).mappings().first()
            if row is None:
                raise NotFound(f"no callback {callback_id}")
            if row["status"] == model.CALLING:
                raise InProgress(f"callback {callback_id} is being called now")
            if row["status"] not in model.OPEN:
                raise NotOpen(f"callback {callback_id} is {row['status']}")
            dialled = self.dialled_number(row["caller_number"])
            await conn.execute(update(Callback).where(cb.c.id == callback_id).values(
                status=model.CALLING, last_attempt_at=now, last_endpoint=endpoint,
                next_attempt_at=None))
            attempt_id = (await conn.execute(insert(CallbackAttempt).values(
                callback_id=callback_id, started_at=now, actor=actor, endpoint=endpoint)
                .returning(a.c.id))).scalar_one()
            await record(conn, Entry(now, actor, "callback.call", "callback", str(callback_id),
                                     {"endpoint": endpoint, "attempt": attempt_id,
                                      "number": row["caller_number"], "dialled": dialled}))
        log.info("callback %d: %s rings %s, then %s as %s", callback_id, actor, endpoint,
                 row["caller_number"], dialled)
        return Attempt(callback_id, attempt_id, dialled, endpoint, row["status"],
                       row["attempts"])

    def dialled_number(self, number: str) -> str:
        """The listed (canonical) number as the callback line writes it (its routing config
        number_format; "e164", +62812…, when it says none)."""
        number_format = self.routing().number_format_of(self.settings.trunk, E164)
        try:
            return trunk_number(number, number_format)
        except ValueError as exc:
            raise NotCallable(f"{number} cannot be dialled on the callback line "
                              f"{self.settings.trunk} ({number_format}): {exc}") from None

    async def _run(self, attempt: Attempt) -> None:
        key = str(attempt.callback_id)
        result: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._results[key] = result
        outcome, detail = model.FAILED, ""
        try:
            outcome, detail = await self._dial(attempt, result)
        except asyncio.CancelledError:
            outcome, detail = model.NO_ANSWER, "controller stopped during the attempt"
            raise
        except Exception as exc:
            log.exception("callback %d: attempt failed", attempt.callback_id)
            outcome, detail = model.TAKER_NO_ANSWER, f"error: {exc}"
        finally:
            self._results.pop(key, None)
            await asyncio.shield(self._finish(attempt, outcome, detail))

    async def _dial(self, attempt: Attempt, result: asyncio.Future[str]) -> tuple[str, str]:
        settings = self.settings
        action = originate_action(attempt, settings)
        # The Originate is answered "queued" at once; how the call-taker's leg went comes
        # later as an OriginateResponse event with this ActionID.
        action_id = f"ntpd-callback-{attempt.attempt_id}-{secrets.token_hex(4)}"
        action["ActionID"] = action_id
        first: asyncio.Future[OriginateResponse] = asyncio.get_running_loop().create_future()
        self._originated[action_id] = first
        try:
            await self.ami.action(action)
            async with asyncio.timeout(settings.taker_ring_seconds + 10):
                leg = await first
        except AmiError as exc:
            return model.TAKER_NO_ANSWER, f"originate: {exc}"
        except TimeoutError:
            return model.TAKER_NO_ANSWER, "no answer to the Originate"
        finally:
            self._originated.pop(action_id, None)
        if leg.response != "Success":
            return model.TAKER_NO_ANSWER, f"call-taker's phone: reason {leg.reason}"
        try:
            async with asyncio.timeout(settings.caller_ring_seconds + 15):
                status = await result
        except TimeoutError:
            return model.NO_ANSWER, "no result from the dialplan"
        return model.outcome_of(status), f"DIALSTATUS {status}"

    async def _finish(self, attempt: Attempt, outcome: str, detail: str) -> None:
        cb, a = Callback.__table__, CallbackAttempt.__table__
        now = utcnow()
        after = model.after_attempt(attempt.status_before, attempt.attempts_before, outcome,
                                    now, self.policy)
        try:
            async with self.engine.begin() as conn:
                first = cb.c.first_attempt_at
                values: dict[str, Any] = {
                    "status": after.status, "attempts": after.attempts,
                    "next_attempt_at": after.next_attempt_at,
                    "closed_at": now if after.closed else None}
                await conn.execute(update(Callback).where(cb.c.id == attempt.callback_id)
                                   .values(**values))
                if outcome != model.TAKER_NO_ANSWER:  # the caller was dialled: called back
                    await conn.execute(update(Callback).where(cb.c.id == attempt.callback_id,
                                                        first.is_(None))
                                       .values(first_attempt_at=cb.c.last_attempt_at))
                await conn.execute(update(CallbackAttempt)
                                   .where(a.c.id == attempt.attempt_id)
                                   .values(outcome=outcome, detail=detail, ended_at=now))
                await record(conn, Entry(now, CONTROLLER, f"callback.{outcome}", "callback",
                                         str(attempt.callback_id),
                                         {"attempt": attempt.attempt_id, "detail": detail,
                                          "status": after.status}))
        except Exception:
            log.exception("CALLBACK OUTCOME NOT WRITTEN: callback %d attempt %d %s (%s)",
                          attempt.callback_id, attempt.attempt_id, outcome, detail)
            return
        log.info("callback %d: %s (%s) -> %s", attempt.callback_id, outcome, detail,
                 after.status)
        try:
            await self.reload()
        except Exception as exc:
            log.warning("callback list not read again: %s", exc)

    async def retry_due(self, now: datetime | None = None) -> int:
        """Call again every busy or unanswered callback whose retry is due."""
        now = now or utcnow()
        cb = Callback.__table__
        async with self.engine.connect() as conn:
            due = (await conn.execute(
                select(cb.c.id, cb.c.last_endpoint)
                .where(cb.c.status.in_((model.NO_ANSWER, model.BUSY, model.WAITING)),
                       cb.c.next_attempt_at <= now, cb.c.last_endpoint.is_not(None)))).all()
        started = 0
        for callback_id, endpoint in due:
            try:
                await self.call_back(callback_id, CONTROLLER, endpoint)
                started += 1
            except CallbackError as exc:
                log.info("callback %d not retried: %s", callback_id, exc.reason)
        return started

    # --- the background loop ------------------------------------------------------------

    def start(self) -> None:
        self._background.spawn(self._loop(), "callbacks")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            swept_at = loop.time()
            try:
                await self.sweep()
                if self.settings.trunk:
                    await self.retry_due()
            except Exception as exc:  # the database is away: next time
                log.warning("callback sweep failed: %s", exc)
            try:
                async with asyncio.timeout(self.settings.sweep_seconds):
                    await self._sweep_wanted.wait()
                await asyncio.sleep(max(SWEEP_DELAY_SECONDS,
                                        swept_at + SWEEP_SPACING_SECONDS - loop.time()))
            except TimeoutError:
                pass
            self._sweep_wanted.clear()

    async def stop(self) -> None:
        await self._background.stop()
