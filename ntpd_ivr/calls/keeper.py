"""Call records that are never lost: the spool in front of PostgreSQL, run as a service.

``RecordKeeper.record()`` returns once the record is fsync'd to the spool (see
``calls/spool.py``). A writer task then applies spooled records to the database in spool
order, a batch per transaction (``calls/store.py``), and only then advances the spool's
cursor. A database outage or a crash therefore only delays records: on restart (or when
PostgreSQL returns) everything after the cursor is applied again. Applying is idempotent,
so a record applied twice (crash after COMMIT, before the cursor moved) changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.calls.spool import COMPACT_BYTES, Spool, encode_line
from ntpd_ivr.calls.store import apply_records
from ntpd_ivr.calls.values import CallStep, CallUpdate
from ntpd_ivr.log import CallLogger
from ntpd_ivr.settings import RecordsSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


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
        self._queue: list[tuple[bytes, asyncio.Future[None]]] = []
        self._writing: list[tuple[bytes, asyncio.Future[None]]] = []
        self._queued = asyncio.Event()  # record() queued a line for the flusher
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
        self._pending = await self._io(self._spool.open)
        if self._pending:
            log.info("%d call record updates in the spool await the database", self._pending)
        self._flush_task = asyncio.create_task(self._flush_loop(), name="records-flush")
        if self._engine is not None:
            self._apply_task = asyncio.create_task(self._apply_loop(self._engine),
                                                   name="records-apply")

    def submit(self, update: CallUpdate | CallStep) -> asyncio.Future[None]:
        """Queue `update` for the spool in call order, without waiting for its fsync; the
        future resolves once it is durable. For a producer that must not fall behind
        (the one AMI consumer: one fsync round trip per event cannot keep up with a
        surge, and the events would pile up in memory)."""
        if self._flush_task is None or self._closing:
            raise RuntimeError("the record keeper is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((encode_line(update), future))
        self._queued.set()
        return future

    async def record(self, update: CallUpdate | CallStep) -> None:
        """Return once `update` (a CallUpdate or a CallStep) is durable in the spool; it
        reaches PostgreSQL later, in spool order."""
        await self.submit(update)
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
        await asyncio.wait([self._flush_task], timeout=timeout)
        tasks = [self._flush_task]
        if self._apply_task is not None:
            self._spooled.set()
            await asyncio.wait([self._apply_task], timeout=max(0.0, deadline - loop.time()))
            tasks.append(self._apply_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, future in [*self._writing, *self._queue]:
            if not future.done():
                future.set_exception(RuntimeError("record keeper stopped before the update "
                                                  "was spooled"))
        self._writing, self._queue = [], []
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
        # Group commit: every record() that arrives while a write+fsync is under way
        # goes into the next single write+fsync.
        while self._queue or not self._closing:
            if not self._queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            self._writing, self._queue = self._queue, []
            try:
                await self._io(self._spool.append, b"".join(line for line, _ in self._writing))
            except Exception as exc:
                log.error("call record spool write failed, %d updates not recorded: %s",
                          len(self._writing), exc)
                for _, future in self._writing:
                    if not future.done():
                        future.set_exception(OSError(f"call record spool write failed: {exc}"))
            else:
                self._pending += len(self._writing)
                for _, future in self._writing:
                    if not future.done():
                        future.set_result(None)
                self._spooled.set()
            self._writing = []

    async def _apply_loop(self, engine: AsyncEngine) -> None:
        assert self._flush_task is not None
        while True:
            self._spooled.clear()
            try:
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
                    await apply_records(engine, batch.updates)
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

    def _database_failed(self, exc: Exception) -> None:
        self._last_error = f"{type(exc).__name__}: {exc}"
        if self._database != "unreachable":
            # Once per outage: retries every few seconds would bury everything else.
            log.warning("database unreachable, call records stay in the spool until it "
                        "returns: %s", self._last_error)
            self._database = "unreachable"
