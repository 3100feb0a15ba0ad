"""Reconciliation from Asterisk's own CDR: calls the controller missed (it was down, it
crashed, AMI was cut) are written into ``calls`` from ``cdr_custom``'s Master.csv.

Only the 112 caller's own leg counts (dcontext is one of the emergency contexts and
uniqueid == linkedid). A call is written when it is missing from ``calls``, has no end,
or has no disposition; it is marked ``reconciled``. Columns the controller already
filled from AMI are never overwritten (AMI times are exact, the CDR's are whole seconds),
and writing the same CDR twice changes nothing.

A node that dies (kill -9, power) writes no CDR for the calls it had up. Once it is back,
its FullyBooted event on our AMI login gives its uptime: its calls that arrived before it
started and have no end are closed as ``cut-by-node-failure`` (``store.close_cut_calls``).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.calls.store import close_cut_calls, fill_calls, transaction, unfinished
from ntpd_ivr.calls.tracker import CallTracker
from ntpd_ivr.calls.values import EMERGENCY_CONTEXTS, CallUpdate, disposition_of, endpoint_of
from ntpd_ivr.numbers import canonical_caller

log = logging.getLogger(__name__)

# asterisk-conf/cdr_custom.conf writes these columns, in this order.
CDR_COLUMNS = ("clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "start",
               "answer", "end", "duration", "billsec", "disposition", "uniqueid", "linkedid")


@dataclass(frozen=True)
class CdrCall:
    """One 112 call as Asterisk's CDR saw it (its rows for the caller's leg, folded)."""

    uniqueid: str
    caller_number: str
    channel: str
    dstchannel: str
    lastapp: str
    start: float
    end: float | None
    answered: bool  # the CDR's own disposition, ANSWERED (the IVR answers every call)

    def disposition(self) -> str:
        # Bridged to a call-taker: answered; last seen in Queue(): abandoned there.
        return disposition_of(answered=bool(self.dstchannel) and self.answered,
                              reached_queue=self.lastapp == "Queue")

    def update(self) -> CallUpdate:
        return CallUpdate(
            uniqueid=self.uniqueid, at=self.end or self.start, linkedid=self.uniqueid,
            caller_number=self.caller_number or None, trunk=endpoint_of(self.channel),
            arrived_at=self.start, ended_at=self.end,
            # A queue call the caller abandoned still names the call-taker it rang.
            answered_by=endpoint_of(self.dstchannel)
            if self.dstchannel and self.answered else None,
            disposition=self.disposition(), reconciled=True)


def parse_cdr_time(text: str) -> float | None:
    """'2026-11-28 07:09:30' (Asterisk's local time, UTC on our stack), '…30.123456', or
    epoch seconds ('1795849770.123456', what ${CDR(start,u)} gives). '' is None."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise ValueError(f"not a CDR time: {text!r}") from None


def parse_cdr(lines: Iterable[str], source: str = "CDR") -> list[CdrCall]:
    """112 callers' calls from Master.csv lines. Bad rows are skipped with a warning that
    names the file and line; other calls (call-taker legs, other contexts) are ignored."""
    folded: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(csv.reader(lines), start=1):
        if not row:
            continue
        if len(row) != len(CDR_COLUMNS):
            log.warning("%s line %d: %d columns, expected %d (%s); skipped", source, number,
                        len(row), len(CDR_COLUMNS), ", ".join(CDR_COLUMNS))
            continue
        cdr = dict(zip(CDR_COLUMNS, row, strict=True))
        if cdr["dcontext"] not in EMERGENCY_CONTEXTS or not cdr["uniqueid"] \
                or cdr["uniqueid"] != cdr["linkedid"]:
            continue
        try:
            start = parse_cdr_time(cdr["start"])
            end = parse_cdr_time(cdr["end"])
        except ValueError as exc:
            log.warning("%s line %d: %s; skipped", source, number, exc)
            continue
        if start is None:
            log.warning("%s line %d: no start time; skipped", source, number)
            continue
        call = folded.get(cdr["uniqueid"])
        if call is None:
            folded[cdr["uniqueid"]] = call = {
                "uniqueid": cdr["uniqueid"], "caller_number": canonical_caller(cdr["src"]),
                "channel": cdr["channel"], "dstchannel": "", "lastapp": "", "start": start,
                "end": end, "answered": False}
        call["start"] = min(call["start"], start)
        if end is not None:
            call["end"] = max(call["end"] or end, end)
        call["lastapp"] = cdr["lastapp"] or call["lastapp"]
        # A queue that rang several call-takers leaves a row per member rung: the one
        # ANSWERED names who took the call, whatever order the rows came in.
        if cdr["dstchannel"] and not call["answered"]:
            call["dstchannel"] = cdr["dstchannel"]
            call["answered"] = cdr["disposition"] == "ANSWERED"
    return [CdrCall(**call) for call in folded.values()]


def read_cdr(path: Path) -> list[CdrCall]:
    """Blocking file read: call it in a thread from async code. A missing file (Asterisk
    has written no CDR yet) is no calls."""
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as file:
            return parse_cdr(file, str(path))
    except FileNotFoundError:
        log.info("no CDR file at %s yet: nothing to reconcile", path)
        return []


@dataclass(frozen=True)
class ReconcileResult:
    examined: int  # ended 112 calls in the CDR
    inserted: int  # missing from calls
    completed: int  # present but without an end or a disposition


async def reconcile(engine: AsyncEngine, calls: Sequence[CdrCall],
                    skip: Collection[str] = ()) -> ReconcileResult:
    """Write the CDR's ended calls that ``calls`` lacks or has unfinished. ``skip``: calls
    whose end the controller saw itself (its record may still be on its way)."""
    ended = {c.uniqueid: c for c in calls if c.end is not None and c.uniqueid not in skip}
    if not ended:
        return ReconcileResult(0, 0, 0)
    inserted = completed = 0
    ids = list(ended)
    async with transaction(engine) as pg:
        for start in range(0, len(ids), 1000):
            todo = await unfinished(pg, ids[start:start + 1000])
            fresh, filled = await fill_calls(pg, [ended[uid].update() for uid in todo])
            inserted += fresh
            completed += filled
    outcome = ReconcileResult(len(ended), inserted, completed)
    if inserted or completed:
        log.warning("reconciled from Asterisk's CDR: %d call(s) the controller had missed, "
                    "%d completed", inserted, completed)
    return outcome


class Reconciler:
    """Runs reconciliation in the background of the service: at start-up and after each
    AMI login, once the spool has reached the database (so the controller's own records
    are in before the CDR fills gaps). One run at a time; a failed run waits for the
    next trigger, and the CLI `ntpd-ivr reconcile` can always be run by hand."""

    def __init__(self, cdr_csv: Path, engine: AsyncEngine, records: RecordKeeper,
                 tracker: CallTracker, drain_timeout: float = 30.0,
                 settle_delay: float = 1.0, settle_attempts: int = 10) -> None:
        self.cdr_csv = cdr_csv
        self._engine = engine
        self._records = records
        self._tracker = tracker
        self._drain_timeout = drain_timeout
        self._settle_delay = settle_delay
        self._settle_attempts = settle_attempts
        self._task: asyncio.Task[None] | None = None
        self._again = False
        # Ended calls the controller could not finish, waiting for their CDR row:
        # uniqueid -> reconciliation runs left.
        self._awaited: dict[str, int] = {}
        self._settle_task: asyncio.Task[None] | None = None
        self.last: ReconcileResult | None = None
        self.last_error: str | None = None
        # The node we follow: its systemname (CoreSettings after each login) and when its
        # Asterisk started (FullyBooted's Uptime); both known: its cut calls are closed.
        self.system_name: str | None = None
        self.booted_at: float | None = None
        # Told of the CDR's calls after each read, and when (calls/confirm.py).
        self.on_cdr_read: Callable[[Iterable[str], float], None] | None = None

    def node_started(self, booted_at: float) -> None:
        """Our AMI login reached an Asterisk that started at ``booted_at`` (epoch, no
        later than the truth): close what an earlier run of that node left up."""
        self.booted_at = booted_at
        self.trigger()

    def trigger(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._run(), name="records-reconcile")

    def settle(self, uniqueid: str) -> None:
        """A call ended whose disposition the controller missed (AMI events lost while
        it was down or disconnected): reconcile once Asterisk has written its CDR row,
        which comes just after the Hangup event; retried a few times if it is late."""
        self._awaited[uniqueid] = self._settle_attempts
        if self._settle_task is None or self._settle_task.done():
            self._settle_task = asyncio.create_task(self._settle_loop(),
                                                    name="records-reconcile-settle")

    async def _settle_loop(self) -> None:
        while self._awaited:
            await asyncio.sleep(self._settle_delay)
            self.trigger()
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
            for uniqueid in list(self._awaited):
                self._awaited[uniqueid] -= 1
                if self._awaited[uniqueid] <= 0:
                    del self._awaited[uniqueid]
                    log.warning("no CDR row for ended call %s after %d tries; it stays "
                                "without a disposition until the next reconciliation",
                                uniqueid, self._settle_attempts,
                                extra={"call_id": uniqueid})

    async def stop(self) -> None:
        tasks = [t for t in (self._settle_task, self._task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = self._settle_task = None

    async def _run(self) -> None:
        while True:
            self._again = False
            await self._run_once()
            if not self._again:
                return

    async def _run_once(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._drain_timeout
        # Polled: the keeper has no "drained" event, and this runs once per login.
        while self._records.state()["pending"] and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        if self._records.state()["pending"]:
            log.warning("reconciliation postponed: %d call record updates still wait for "
                        "the database", self._records.state()["pending"])
            return
        try:
            read_at = time.time()
            calls = await asyncio.to_thread(read_cdr, self.cdr_csv)
            self.last = await reconcile(self._engine, calls, self._tracker.recently_ended)
            if self.on_cdr_read is not None:
                self.on_cdr_read((c.uniqueid for c in calls if c.end is not None), read_at)
            self.last_error = None
            for call in calls:
                if call.end is not None:
                    self._awaited.pop(call.uniqueid, None)
            await self._close_cut_calls()
        except Exception as exc:  # a database outage: the next trigger tries again
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("reconciliation from %s failed: %s", self.cdr_csv, self.last_error)

    async def _close_cut_calls(self) -> None:
        if self.system_name is None or self.booted_at is None:
            return
        booted = datetime.fromtimestamp(self.booted_at, UTC)
        async with transaction(self._engine) as pg:
            cut = await close_cut_calls(pg, self.system_name, booted,
                                        sorted(self._tracker.tracked))
        if cut:
            log.warning("%d call(s) were up on %s when its Asterisk stopped (it started "
                        "again at %s): closed as cut-by-node-failure (cut-by-site-failure "
                        "when the database had stopped too): %s", len(cut),
                        self.system_name or "this node", booted.isoformat(timespec="seconds"),
                        ", ".join(sorted(cut)))
