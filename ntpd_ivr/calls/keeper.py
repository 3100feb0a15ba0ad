"""Call records that are never lost: the spool in front of PostgreSQL, run as a service.

``RecordKeeper.record()`` returns once the record is fsync'd to the spool (see
``calls/spool.py``). A writer task then applies spooled records to the database in spool
order, a batch per transaction (``calls/store.py``), and only then advances the spool's
cursor. A database outage or a crash therefore only delays records: on restart (or when
PostgreSQL returns) everything after the cursor is applied again. Applying is idempotent,
so a record applied twice (crash after COMMIT, before the cursor moved) changes nothing.

What was just spooled is also kept in memory, with where it lies in the spool, so that in
the normal case the applier takes it from there instead of reading and decoding the file
again; the file is read only to catch up (after a start, an outage, or when memory ran
over ``FRESH_MAX``). Either way the applier applies exactly what lies after the cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.calls.spool import COMPACT_BYTES, Position, Spool, SpoolBatch, encode_line
from ntpd_ivr.calls.store import RecordStore
from ntpd_ivr.calls.values import CallStep, CallUpdate, Record
from ntpd_ivr.log import CallLogger
from ntpd_ivr.settings import RecordsSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

# Records kept in memory for the applier; past this (a long database outage) the applier
# reads the spool file instead.
FRESH_MAX = 20_000
# A batch smaller than batch_max means the applier has caught up: it then lets records
# gather this long, so that a transaction carries many calls' records, not one's.
APPLY_GATHER_SECONDS = 0.1
# Likewise, records queued within this long share one write and fsync: under load that is
# many calls' records per fsync, and it holds a caller no longer than one more fsync would.
FLUSH_GATHER_SECONDS = 0.005
# Records nobody waits for (those from AMI events, submitted and not awaited) gather up to
# this long, or until somebody waits (urge(): the IVR before the dialplan acts on its
# decision), before a write: at 40 calls/s the spool wrote and fdatasync'd about every
# 5 ms, each write also a round trip to the spool's thread (docs/performance.md). A crash
# can take at most this much more of them than before; the login's resync and the CDR
# bring their calls back (calls/recorder.py), as they did for the 5 ms.
LAZY_GATHER_SECONDS = 0.05


class _Fresh(NamedTuple):
    """Records one flush made durable, and where their lines lie in the spool."""

    start: Position
    end: Position
    records: list[Record]


class RecordKeeper:
    """Spools call updates durably and applies them to PostgreSQL (``engine``) behind
    the scenes. With ``engine=None`` the database is disabled and updates stay spooled."""

    def __init__(self, settings: RecordsSettings, engine: AsyncEngine | None, *,
                 compact_bytes: int = COMPACT_BYTES) -> None:
        self._settings = settings
        self._engine = engine
        self._spool = Spool(Path(settings.spool_dir), compact_bytes)
        # One thread for every spool file operation: they run in submission order and
        # never overlap, even when an awaiting task is cancelled mid-operation.
        self._executor: ThreadPoolExecutor | None = None
        self._queue: list[tuple[Record, bytes, asyncio.Future[None]]] = []
        self._writing: list[tuple[Record, bytes, asyncio.Future[None]]] = []
        self._fresh: deque[_Fresh] = deque()
        self._fresh_records = 0
        self._queued = asyncio.Event()  # record() queued a line for the flusher
        self._urged = asyncio.Event()  # somebody waits for what is queued
        self._spooled = asyncio.Event()  # the flusher made lines durable for the applier
        self._flush_task: asyncio.Task[None] | None = None
        self._apply_task: asyncio.Task[None] | None = None
        self._closing = False
        self._pending = 0
        self._applied_total = 0
        self._database = "ok" if engine is not None else "disabled"
        self._last_error: str | None = None

    async def start(self) -> None:
        """Open the spool; what it holds unapplied is replayed in the background."""
        if self._flush_task is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="record-spool")
        self._closing = False
        self._queued, self._spooled = asyncio.Event(), asyncio.Event()
        self._urged = asyncio.Event()
        self._pending = await self._io(self._spool.open)
        if self._pending:
            log.info("%d call record updates in the spool await the database", self._pending)
        self._flush_task = asyncio.create_task(self._flush_loop(), name="records-flush")
        if self._engine is not None:
            self._apply_task = asyncio.create_task(self._apply_loop(RecordStore(self._engine)),
                                                   name="records-apply")

    def submit(self, update: CallUpdate | CallStep) -> asyncio.Future[None]:
        """Queue `update` for the spool in call order, without waiting for its fsync; the
        future resolves once it is durable. For a producer that must not fall behind
        (the one AMI consumer: one fsync round trip per event cannot keep up with a
        surge, and the events would pile up in memory)."""
        if self._flush_task is None or self._closing:
            raise RuntimeError("the record keeper is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((update, encode_line(update), future))
        self._queued.set()
        return future

    def urge(self) -> None:
        """Somebody waits for what is queued: the next write goes now, not after
        LAZY_GATHER_SECONDS."""
        self._urged.set()

    async def record(self, update: CallUpdate | CallStep) -> None:
        """Return once `update` (a CallUpdate or a CallStep) is durable in the spool; it
        reaches PostgreSQL later, in spool order."""
        durable = self.submit(update)
        self.urge()
        await durable
        if log.isEnabledFor(logging.DEBUG):
            CallLogger(log, update.uniqueid).debug(
                "record spooled: %s", update.changes() if isinstance(update, CallUpdate)
                else f"step {update.kind} {dict(update.detail)}")

    # A deadline for the whole shutdown, not for one await: asyncio.timeout cannot say it.
    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Spool what is queued, apply what the database takes within `timeout`, stop."""
        if self._flush_task is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._closing = True
        self._queued.set()
        self._urged.set()
        await asyncio.wait([self._flush_task], timeout=timeout)
        tasks = [self._flush_task]
        if self._apply_task is not None:
            self._spooled.set()
            await asyncio.wait([self._apply_task], timeout=max(0.0, deadline - loop.time()))
            tasks.append(self._apply_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, _, future in [*self._writing, *self._queue]:
            if not future.done():
                future.set_exception(RuntimeError("record keeper stopped before the update "
                                                  "was spooled"))
        self._writing, self._queue = [], []
        self._fresh.clear()
        self._fresh_records = 0
        await self._io(self._spool.close)
        assert self._executor is not None
        self._executor.shutdown(wait=False)
        self._flush_task = self._apply_task = self._executor = None
        if self._pending:
            log.warning("record keeper stopped with %d updates still in the spool; they are "
                        "applied at the next start", self._pending)

    def state(self) -> dict[str, Any]:
        return {"database": self._database, "pending": self._pending,
                "applied_total": self._applied_total, "last_error": self._last_error}

    async def _io(self, function: Callable[..., T], *args: Any) -> T:
        assert self._executor is not None, "start() first"
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _flush_loop(self) -> None:
        # Group commit: every record that arrives while a write+fsync is under way goes
        # into the next single write+fsync; records nobody waits for gather longer.
        while self._queue or not self._closing:
            if not self._queue:
                self._queued.clear()
                await self._queued.wait()
                if not self._closing:
                    await asyncio.sleep(FLUSH_GATHER_SECONDS)
                continue
            if not self._urged.is_set() and not self._closing:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LAZY_GATHER_SECONDS):
                        await self._urged.wait()
            self._urged.clear()  # this write takes all that is queued, the urged included
            self._writing, self._queue = self._queue, []
            try:
                start, end = await self._io(self._spool.append,
                                            b"".join(line for _, line, _ in self._writing))
            except Exception as exc:
                log.error("call record spool write failed, %d updates not recorded: %s",
                          len(self._writing), exc)
                for _, _, future in self._writing:
                    if not future.done():
                        future.set_exception(OSError(f"call record spool write failed: {exc}"))
            else:
                self._pending += len(self._writing)
                self._remember(_Fresh(start, end, [record for record, _, _ in self._writing]))
                for _, _, future in self._writing:
                    if not future.done():
                        future.set_result(None)
                self._spooled.set()
            self._writing = []

    def _remember(self, fresh: _Fresh) -> None:
        if self._engine is None:
            return  # nobody applies them
        if self._fresh_records + len(fresh.records) > FRESH_MAX:
            # The database is behind: drop what memory holds; the file has it all.
            self._fresh.clear()
            self._fresh_records = 0
        self._fresh.append(fresh)
        self._fresh_records += len(fresh.records)

    def _next_batch_from_memory(self) -> SpoolBatch | None:
        """The records right after the cursor, if memory holds them, up to batch_max."""
        cursor = self._spool.cursor
        while self._fresh and self._fresh[0].start < cursor:  # applied, or read from file
            self._fresh_records -= len(self._fresh.popleft().records)
        if not self._fresh or self._fresh[0].start != cursor:
            return None
        records: list[Record] = []
        end = cursor
        for fresh in self._fresh:
            if fresh.start != end or (records and len(records) + len(fresh.records)
                                      > self._settings.batch_max):
                break
            records += fresh.records
            end = fresh.end
        return SpoolBatch(records, len(records), end)

    async def _apply_loop(self, store: RecordStore) -> None:
        try:
            await self._apply_all(store)
        finally:
            await store.close()

    async def _apply_all(self, store: RecordStore) -> None:
        assert self._flush_task is not None
        while True:
            self._spooled.clear()
            try:
                batch = self._next_batch_from_memory()
                if batch is None and self._pending == 0 and self._writing:
                    # All that is durable is applied; the write under way is all the file
                    # will hold, and memory gets it as soon as it is durable: no file read.
                    await self._spooled.wait()
                    continue
                if batch is None:
                    batch = await self._io(self._spool.read, self._settings.batch_max)
            except Exception:
                log.exception("cannot read the call record spool; retrying")
                await asyncio.sleep(self._settings.retry_seconds)
                continue
            if not batch.lines:
                if self._closing and self._flush_task.done():
                    return
                await self._spooled.wait()
                continue
            if batch.updates:
                try:
                    await store.apply(batch.updates)
                except Exception as exc:
                    self._database_failed(exc)
                    if self._closing:
                        return
                    await asyncio.sleep(self._settings.retry_seconds)
                    continue
                if self._database != "ok":
                    log.warning("database reachable again; applying %d spooled call record "
                                "updates", self._pending)
                    self._database = "ok"
            try:
                await self._io(self._spool.commit, batch.end)
            except Exception:
                # The updates are in; they are applied once more after the retry, harmlessly.
                log.exception("cannot move the call record spool cursor; retrying")
                await asyncio.sleep(self._settings.retry_seconds)
                continue
            self._pending -= batch.lines
            self._applied_total += len(batch.updates)
            if batch.lines < self._settings.batch_max and not self._closing:
                await asyncio.sleep(APPLY_GATHER_SECONDS)

    def _database_failed(self, exc: Exception) -> None:
        self._last_error = f"{type(exc).__name__}: {exc}"
        if self._database != "unreachable":
            # Once per outage: retries every few seconds would bury everything else.
            log.warning("database unreachable, call records stay in the spool until it "
                        "returns: %s", self._last_error)
            self._database = "unreachable"
