"""The call-record spool: an append-only, fsync'd file of JSON lines in front of the
database, and its cursor. One line per record; the format is defined here and only here.

Layout in ``RecordsSettings.spool_dir`` (mode 0700: the records hold callers' numbers)::

    calls-000000000001.jsonl   segments, appended to in order; only the last is live
    cursor.json                {"segment": n, "offset": bytes} of the first unapplied line

A line is a ``CallUpdate`` (``{"uniqueid": ..., "at": ..., <the fields it sets>}``) or a
``CallStep`` (``{"type": "step", "uniqueid": ..., "at": ..., "kind": ..., "detail": {...}}``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from pathlib import Path
from time import monotonic
from typing import Any, NamedTuple

import orjson

from ntpd_ivr.calls.values import FIELD_NAMES, CallStep, CallUpdate, Record

log = logging.getLogger(__name__)

COMPACT_BYTES = 4 * 1024 * 1024
# The cursor file is rewritten at most this often (and at close, and at once whenever a
# segment is about to go): the applier commits a batch every ~0.1 s under load, and a
# cursor a crash takes back by a second only means that second's records are applied
# again, which changes nothing (applying is idempotent). 1.7 % of path a's CPU at
# 40 calls/s went to rewriting it (docs/performance.md).
CURSOR_WRITE_SECONDS = 1.0


def encode_line(record: Record) -> bytes:
    """One spool line, newline included. orjson: the stdlib's json.dumps was the largest
    single cost of queueing a record (a dozen and a half records a call)."""
    body: dict[str, Any]
    if isinstance(record, CallStep):
        body = {"type": "step", "uniqueid": record.uniqueid, "at": record.at,
                "kind": record.kind, "detail": dict(record.detail)}
    else:
        body = {"uniqueid": record.uniqueid, "at": record.at, **record.changes()}
    return orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE)


def decode_line(text: str | bytes) -> Record:
    """A spool line back into what was recorded. Raises ValueError for anything else."""
    try:
        body = orjson.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a record: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError(f"not a record: {body!r}")
    try:
        if body.get("type") == "step":
            return CallStep(body["uniqueid"], body["at"], body["kind"],
                            body.get("detail") or {})
        return CallUpdate(**{name: body[name] for name in FIELD_NAMES if name in body})
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a record: {exc}") from None


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
        self._cursor_written_at = float("-inf")  # monotonic
        self._cursor_unwritten = False  # self.cursor is ahead of the cursor file

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
        if self._cursor_unwritten:
            self._write_cursor(self.cursor)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def append(self, data: bytes) -> tuple[Position, Position]:
        """Append whole lines and make them durable before returning; where they start
        and where they end."""
        start = Position(self.live, self._live_size)
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
        return start, Position(self.live, self._live_size)

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
                            updates.append(decode_line(line))
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
        behind = [s for s in self.segments if s < end.segment]
        if behind or monotonic() - self._cursor_written_at >= CURSOR_WRITE_SECONDS:
            # Durable before a segment goes, so that no cursor ever points at a deleted one.
            self._write_cursor(end, durable=bool(behind))
        else:
            self._cursor_unwritten = True
        self.cursor = end
        for segment in behind:
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
        self._write_cursor(Position(new, 0), durable=True)
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

    def _write_cursor(self, position: Position, durable: bool = False) -> None:
        """Replace the cursor file. Not fsync'd unless `durable`: a cursor that a power
        cut takes back only makes the next start apply some records again, which changes
        nothing (applying is idempotent), so the applier does not pay two fsyncs a batch.
        A process crash keeps it either way (the page cache survives the process)."""
        temporary = self.directory / "cursor.json.tmp"
        with temporary.open("w") as file:
            json.dump(position._asdict(), file)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        temporary.replace(self.directory / "cursor.json")
        if durable:
            _fsync_dir(self.directory)
        self._cursor_written_at = monotonic()
        self._cursor_unwritten = False

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
