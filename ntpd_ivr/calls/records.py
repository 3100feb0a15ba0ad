"""Call records that are never lost: a write-ahead spool in front of PostgreSQL.

``RecordKeeper.record()`` returns once the update is fsync'd to an append-only spool of
JSON lines. A writer task then applies spooled updates to the ``calls`` table in spool
order, a batch per transaction, and only then advances a cursor file. A database outage
or a crash therefore only delays records: on restart (or when PostgreSQL returns)
everything after the cursor is applied again. Applying is an idempotent upsert, so an
update applied twice (crash after COMMIT, before the cursor moved) changes nothing.

Spool layout in ``RecordsSettings.spool_dir`` (mode 0700: the records hold callers'
numbers)::

    calls-000000000001.jsonl   segments, appended to in order; only the last is live
    cursor.json                {"segment": n, "offset": bytes} of the first unapplied line
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import Table, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.db.models import Call, CallEvent
from ntpd_ivr.log import CallLogger
from ntpd_ivr.settings import RecordsSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

COMPACT_BYTES = 4 * 1024 * 1024
_MAX_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z, PostgreSQL and datetime both accept it
_MAX_INT4 = 2**31 - 1
_ROWS_PER_STATEMENT = 1000  # asyncpg allows 32767 bind parameters per statement


@dataclass(frozen=True)
class CallUpdate:
    """A change to one call's record. ``None`` means "unchanged"; times are epoch seconds.

    Values are checked here, at the edge, so that nothing spooled can be refused by the
    database later and stall every record behind it.
    """

    uniqueid: str
    at: float
    linkedid: str | None = None
    caller_number: str | None = None
    trunk: str | None = None
    dialed: str | None = None
    ivr_digit: str | None = None
    category: str | None = None
    queue: str | None = None
    route_reason: str | None = None
    arrived_at: float | None = None
    queued_at: float | None = None
    answered_at: float | None = None
    answered_by: str | None = None
    ended_at: float | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    region: str | None = None
    priority: int | None = None
    disposition: str | None = None  # one of DISPOSITIONS
    abandoned_at: float | None = None
    reconciled: bool | None = None  # True: filled from Asterisk's CDR, AMI events missed

    def __post_init__(self) -> None:
        if not isinstance(self.uniqueid, str) or not self.uniqueid:
            raise ValueError(f"uniqueid must be a non-empty string, not {self.uniqueid!r}")
        object.__setattr__(self, "at", _epoch("at", self.at))
        if self.disposition is not None and self.disposition not in DISPOSITIONS:
            raise ValueError(f"disposition must be one of {', '.join(DISPOSITIONS)}, "
                             f"not {self.disposition!r}")
        if self.reconciled is not None and type(self.reconciled) is not bool:
            raise ValueError(f"reconciled must be true or false, not {self.reconciled!r}")
        priority = self.priority
        if priority is not None and (type(priority) is not int
                                     or not -_MAX_INT4 <= priority <= _MAX_INT4):
            raise ValueError(f"priority must be a whole number, not {priority!r}")
        for name in TIME_FIELDS:
            if (value := getattr(self, name)) is not None:
                object.__setattr__(self, name, _epoch(name, value))
        for name in TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string, not {value!r}")
            if value is not None and _UNSTORABLE.search(value):
                object.__setattr__(self, name, _UNSTORABLE.sub("\ufffd", value))
        cause = self.hangup_cause
        if cause is not None and (type(cause) is not int or not 0 <= cause <= _MAX_INT4):
            raise ValueError(f"hangup_cause must be a whole number >= 0, not {cause!r}")

    def changes(self) -> dict[str, Any]:
        """The fields this update sets."""
        return {name: value for name, value in asdict(self).items()
                if value is not None and name not in ("uniqueid", "at")}

    def to_json(self) -> str:
        body = {"uniqueid": self.uniqueid, "at": self.at, **self.changes()}
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> CallUpdate:
        """Parse a spool line. Raises ValueError for anything that is not an update."""
        try:
            body = json.loads(text)
            known = {name: body[name] for name in _FIELD_NAMES if name in body}
            return cls(**known)
        except (TypeError, KeyError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a call update: {exc}") from None


_FIELD_NAMES = tuple(f.name for f in fields(CallUpdate))
TIME_FIELDS = ("arrived_at", "queued_at", "answered_at", "ended_at", "abandoned_at")
TEXT_FIELDS = tuple(name for name in _FIELD_NAMES[2:]
                    if name not in TIME_FIELDS
                    and name not in ("hangup_cause", "priority", "reconciled"))
# PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate (what
# surrogateescape makes of a caller id's stray bytes): either would be refused forever.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
DISPOSITIONS = ("answered", "abandoned-in-queue", "hung-up-in-ivr", "abandoned-ringing",
                "failed")


def _epoch(name: str, value: object) -> float:
    # The comparison also refuses NaN and infinity.
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 <= value <= _MAX_EPOCH:
        raise ValueError(f"{name} must be epoch seconds, not {value!r}")
    return float(value)


_STEP_KIND = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
StepValue = str | int | float | bool | None


@dataclass(frozen=True)
class CallStep:
    """Something that happened to a call, kept as a row of ``call_events``: an IVR step,
    an agency-dispatch attempt, a queue or bridge event. ``at`` is epoch seconds.

    Recording the same step twice (a spool replay) stores it once: rows are unique by
    (uniqueid, kind, at, detail). ``detail`` is copied into a read-only mapping.
    """

    uniqueid: str
    at: float
    kind: str
    detail: Mapping[str, StepValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.uniqueid, str) or not self.uniqueid:
            raise ValueError(f"uniqueid must be a non-empty string, not {self.uniqueid!r}")
        if _UNSTORABLE.search(self.uniqueid):
            raise ValueError(f"uniqueid holds characters PostgreSQL cannot store: "
                             f"{self.uniqueid!r}")
        object.__setattr__(self, "at", _epoch("at", self.at))
        if not isinstance(self.kind, str) or not _STEP_KIND.match(self.kind):
            raise ValueError(f"kind must be 1-64 of a-z 0-9 _ . : - starting with a letter, "
                             f"not {self.kind!r}")
        if not isinstance(self.detail, Mapping):
            raise ValueError(f"detail must be a mapping, not {self.detail!r}")
        clean: dict[str, StepValue] = {}
        for key, value in self.detail.items():
            if not isinstance(key, str) or _UNSTORABLE.search(key):
                raise ValueError(f"detail key must be a storable string, not {key!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"detail[{key!r}] must be a finite number, not {value!r}")
            if isinstance(value, str):
                value = _UNSTORABLE.sub("\ufffd", value)
            elif value is not None and not isinstance(value, bool | int | float):
                raise ValueError(f"detail[{key!r}] must be a string, number, boolean or "
                                 f"None, not {value!r}")
            clean[key] = value
        object.__setattr__(self, "detail", MappingProxyType(clean))

    def __hash__(self) -> int:
        return hash((self.uniqueid, self.at, self.kind, self.detail_json()))

    def detail_json(self) -> str:
        """Canonical JSON of the detail: the same detail always gives the same text."""
        return json.dumps(dict(self.detail), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)

    def to_json(self) -> str:
        body = {"type": "step", "uniqueid": self.uniqueid, "at": self.at, "kind": self.kind,
                "detail": dict(self.detail)}
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> CallStep:
        try:
            body = json.loads(text)
            if body.get("type") != "step":
                raise ValueError("not a call step")
            return cls(body["uniqueid"], body["at"], body["kind"], body.get("detail") or {})
        except (TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a call step: {exc}") from None


Record = CallUpdate | CallStep


def parse_spool_line(text: str | bytes) -> Record:
    """A spool line back into what was recorded. Raises ValueError for anything else."""
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a record: {exc}") from None
    if isinstance(body, dict) and body.get("type") == "step":
        return CallStep.from_json(text)
    return CallUpdate.from_json(text)


def merge_updates(updates: Sequence[CallUpdate]) -> list[dict[str, Any]]:
    """Fold updates into one row per call, with the same rules as the SQL upsert.

    Applying the merged rows equals applying the updates one by one, so a batch can
    carry many updates of one call in a single INSERT (which may touch a row only once).
    """
    rows: dict[str, dict[str, Any]] = {}
    for update in updates:
        row = rows.get(update.uniqueid)
        if row is None:
            row = rows[update.uniqueid] = {
                "uniqueid": update.uniqueid, "created_at": update.at,
                "updated_at": update.at, **dict.fromkeys(_FIELD_NAMES[2:])}
        row["created_at"] = min(row["created_at"], update.at)
        row["updated_at"] = max(row["updated_at"], update.at)
        for name, value in update.changes().items():
            if name == "arrived_at" and row[name] is not None:
                value = min(value, row[name])
            if name == "reconciled":
                value = value or bool(row[name])
            row[name] = value
    for row in rows.values():
        # Once filled from the CDR, a row says so for good (see apply_updates).
        row["reconciled"] = bool(row["reconciled"])
        for name in (*TIME_FIELDS, "created_at", "updated_at"):
            if row[name] is not None:
                row[name] = datetime.fromtimestamp(row[name], UTC)
    return list(rows.values())


def step_rows(steps: Sequence[CallStep]) -> list[dict[str, Any]]:
    """call_events rows, one per distinct step (a batch may hold a step twice)."""
    rows: dict[tuple[str, str, float, str], dict[str, Any]] = {}
    for step in steps:
        detail = step.detail_json()
        digest = hashlib.sha256(detail.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        rows.setdefault((step.uniqueid, step.kind, step.at, digest), {
            "uniqueid": step.uniqueid, "at": datetime.fromtimestamp(step.at, UTC),
            "kind": step.kind, "detail": dict(step.detail), "detail_digest": digest})
    return list(rows.values())


async def apply_updates(engine: AsyncEngine, records: Sequence[Record]) -> None:
    """Apply records in one transaction. Call updates are upserted into ``calls``: a
    non-null field overwrites, a null one keeps the column, arrived_at and created_at
    keep the earliest value, updated_at the latest. Call steps are inserted into
    ``call_events`` unless already there."""
    table = cast(Table, Call.__table__)
    rows = merge_updates([r for r in records if isinstance(r, CallUpdate)])
    events = step_rows([r for r in records if isinstance(r, CallStep)])
    async with engine.begin() as connection:
        events_table = cast(Table, CallEvent.__table__)
        for start in range(0, len(events), _ROWS_PER_STATEMENT):
            await connection.execute(
                pg_insert(events_table).values(events[start:start + _ROWS_PER_STATEMENT])
                .on_conflict_do_nothing(constraint="uq_call_events_step"))
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            insert = pg_insert(table).values(rows[start:start + _ROWS_PER_STATEMENT])
            new = insert.excluded
            merged: dict[str, Any] = {name: func.coalesce(new[name], table.c[name])
                                      for name in _FIELD_NAMES[2:]}
            merged["arrived_at"] = func.least(table.c.arrived_at, new.arrived_at)
            merged["reconciled"] = table.c.reconciled | new.reconciled
            merged["created_at"] = func.least(table.c.created_at, new.created_at)
            merged["updated_at"] = func.greatest(table.c.updated_at, new.updated_at)
            await connection.execute(
                insert.on_conflict_do_update(index_elements=[table.c.uniqueid], set_=merged))


class Position(NamedTuple):
    segment: int
    offset: int


class SpoolBatch(NamedTuple):
    updates: list[Record]
    lines: int  # lines consumed, including unreadable ones that were skipped
    end: Position


class Spool:
    """Segment files plus a cursor. Not thread-safe: use it from one thread only."""

    def __init__(self, directory: Path, compact_bytes: int = COMPACT_BYTES) -> None:
        self.directory = directory
        self.compact_bytes = compact_bytes
        self.cursor = Position(1, 0)
        self.segments: list[int] = []
        self._fd = -1
        self._live_size = 0

    def path(self, segment: int) -> Path:
        return self.directory / f"calls-{segment:012d}.jsonl"

    @property
    def live(self) -> int:
        return self.segments[-1]

    def open(self) -> int:
        """Open the spool, tidy up after a crash, return how many lines await applying."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.segments = sorted(int(match[1]) for p in self.directory.iterdir()
                               if (match := re.fullmatch(r"calls-(\d+)\.jsonl", p.name)))
        self.cursor = self._load_cursor()
        for segment in [s for s in self.segments if s < self.cursor.segment]:
            # Fully applied; a crash came between moving the cursor and deleting it.
            self.path(segment).unlink()
            self.segments.remove(segment)
        if not self.segments:
            self.segments = [self.cursor.segment]
        elif self.cursor.segment not in self.segments:
            log.warning("spool segment %s is missing; continuing with %s",
                        self.path(self.cursor.segment), self.path(self.segments[0]))
            self.cursor = Position(self.segments[0], 0)
        self._fd = os.open(self.path(self.live), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_dir(self.directory)
        self._live_size = os.fstat(self._fd).st_size
        for segment in self.segments:
            self._end_torn_line(segment)
        size = self.path(self.cursor.segment).stat().st_size
        if self.cursor.offset > size:
            log.error("spool cursor %s is past the end of %s (%d bytes): data was lost "
                      "outside ntpd-ivr", self.cursor, self.path(self.cursor.segment), size)
            self.cursor = Position(self.cursor.segment, size)
        return self._count_lines_from_cursor()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def append(self, data: bytes) -> None:
        """Append whole lines and make them durable before returning."""
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            # fdatasync also syncs the new file size, which is all an append needs.
            os.fdatasync(self._fd)
        except BaseException:
            # A partial write would glue the next append onto a broken line: cut it off.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._live_size)
            raise
        self._live_size += len(data)

    def read(self, max_lines: int) -> SpoolBatch:
        """Up to max_lines updates from the cursor on; the cursor itself does not move."""
        updates: list[Record] = []
        lines = 0
        segment, offset = self.cursor
        while True:
            with self.path(segment).open("rb") as file:
                file.seek(offset)
                while lines < max_lines and (line := file.readline()).endswith(b"\n"):
                    lines += 1
                    if line.strip():
                        try:
                            updates.append(parse_spool_line(line))
                        except ValueError as exc:
                            log.warning("skipping unreadable spool line at %s byte %d "
                                        "(torn by a crash?): %s", self.path(segment), offset,
                                        exc)
                    offset += len(line)
            later = [s for s in self.segments if s > segment]
            if lines >= max_lines or not later or offset < self.path(segment).stat().st_size:
                return SpoolBatch(updates, lines, Position(segment, offset))
            segment, offset = later[0], 0

    def commit(self, end: Position) -> None:
        """Everything before `end` is applied: move the cursor, drop what is behind it."""
        self._write_cursor(end)
        self.cursor = end
        for segment in [s for s in self.segments if s < end.segment]:
            self.path(segment).unlink()
            self.segments.remove(segment)
        if end == Position(self.live, self._live_size) and self._live_size > self.compact_bytes:
            self._start_segment()

    def _start_segment(self) -> None:
        # Order matters for a crash at any point: the new segment exists before the
        # cursor points at it, and the old one goes only after the cursor has left it.
        old, new = self.live, self.live + 1
        fd = os.open(self.path(new), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_dir(self.directory)
        self.segments.append(new)
        self._write_cursor(Position(new, 0))
        self.cursor = Position(new, 0)
        os.close(self._fd)
        self._fd, self._live_size = fd, 0
        self.path(old).unlink()
        self.segments.remove(old)
        _fsync_dir(self.directory)
        log.info("call record spool compacted: now %s", self.path(new).name)

    def _load_cursor(self) -> Position:
        first = Position(self.segments[0] if self.segments else 1, 0)
        try:
            body = json.loads((self.directory / "cursor.json").read_text())
            cursor = Position(int(body["segment"]), int(body["offset"]))
        except FileNotFoundError:
            return first
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Replaying from the start is safe: applying is idempotent.
            log.warning("spool cursor unreadable (%s); replaying the whole spool", exc)
            return first
        return cursor

    def _write_cursor(self, position: Position) -> None:
        temporary = self.directory / "cursor.json.tmp"
        with temporary.open("w") as file:
            json.dump(position._asdict(), file)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.directory / "cursor.json")
        _fsync_dir(self.directory)

    def _end_torn_line(self, segment: int) -> None:
        # A crash mid-write leaves a last line without its newline. Ending it keeps the
        # next append on a line of its own; read() then skips the broken line.
        with self.path(segment).open("rb+") as file:
            if not file.seek(0, os.SEEK_END):
                return
            file.seek(-1, os.SEEK_END)
            if file.read(1) == b"\n":
                return
            file.write(b"\n")
            file.flush()
            os.fsync(file.fileno())
        if segment == self.live:
            self._live_size += 1

    def _count_lines_from_cursor(self) -> int:
        count = 0
        for segment in self.segments:
            if segment >= self.cursor.segment:
                with self.path(segment).open("rb") as file:
                    file.seek(self.cursor.offset if segment == self.cursor.segment else 0)
                    count += sum(chunk.count(b"\n")
                                 for chunk in iter(lambda: file.read(1 << 20), b""))
        return count


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        self._queue.append(((update.to_json() + "\n").encode(), future))
        self._queued.set()
        return future

    async def record(self, update: CallUpdate | CallStep) -> None:
        """Return once `update` (a CallUpdate or a CallStep) is durable in the spool; it
        reaches PostgreSQL later, in spool order."""
        await self.submit(update)
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
                    await apply_updates(engine, batch.updates)
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
