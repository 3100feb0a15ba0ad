"""Recordings on disk: where a call's file is, the retention job, and the audit of every
playback. File system work runs in a thread: the event loop never waits on a disk."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.audit.trail import Entry, record
from ntpd_ivr.clock import utcnow
from ntpd_ivr.recordings.model import RecordingFile, expired, file_name, valid_uniqueid
from ntpd_ivr.settings import RecordingsSettings

log = logging.getLogger(__name__)

PLAYBACK_SECONDS = 60.0


def list_files(folder: Path) -> list[RecordingFile]:
    found = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                found.append(RecordingFile(entry.name, stat.st_mtime, stat.st_size))
        except FileNotFoundError:
            continue
    return found


def purge(folder: Path, retention_days: float, now: float | None = None) -> list[str]:
    """Delete the expired recordings in `folder`; returns the names deleted."""
    now = time.time() if now is None else now
    deleted = []
    for item in expired(list_files(folder), now, retention_days):
        try:
            (folder / item.name).unlink()
        except FileNotFoundError:
            continue
        deleted.append(item.name)
    return deleted


class RecordingService:
    def __init__(self, settings: RecordingsSettings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.folder = Path(settings.dir) if settings.dir else None
        self.engine = engine
        self._task: asyncio.Task[None] | None = None
        # (user, uniqueid) -> when its playback was audited, and the entry's write.
        self._audits: dict[tuple[str, str], tuple[float, asyncio.Future[None]]] = {}

    def path_of(self, uniqueid: str) -> Path | None:
        """The call's recording, if recordings are on and the file exists."""
        if self.folder is None or not valid_uniqueid(uniqueid):
            return None
        path = self.folder / file_name(uniqueid)
        return path if path.is_file() else None

    async def recorded(self, uniqueids: list[str]) -> set[str]:
        """Which of these calls have a recording (one directory read, in a thread)."""
        if self.folder is None:
            return set()
        names = {f.name for f in await asyncio.to_thread(list_files, self.folder)}
        return {u for u in uniqueids if valid_uniqueid(u) and file_name(u) in names}

    async def audit_playback(self, actor: str, uniqueid: str, detail: dict[str, Any]) -> None:
        """One audit entry per playback: a browser's player asks for the file from its
        first byte more than once while it loads (the header, then the data); requests
        by the same user for the same call within PLAYBACK_SECONDS are that playback, and
        each of them waits for its entry to be written."""
        now = time.monotonic()
        key = (actor, uniqueid)
        self._audits = {k: v for k, v in self._audits.items() if now - v[0] < PLAYBACK_SECONDS}
        found = self._audits.get(key)
        if found is None or (found[1].done() and found[1].exception() is not None):
            found = (now, asyncio.ensure_future(self._write_audit(actor, uniqueid, detail)))
            self._audits[key] = found
        await asyncio.shield(found[1])

    async def _write_audit(self, actor: str, uniqueid: str, detail: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await record(conn, Entry(utcnow(), actor, "recording.played",
                                     "call", uniqueid, detail))

    async def purge_now(self, now: float | None = None) -> list[str]:
        if self.folder is None:
            return []
        deleted = await asyncio.to_thread(purge, self.folder, self.settings.retention_days, now)
        if deleted:
            log.info("retention: %d recording(s) older than %g days deleted", len(deleted),
                     self.settings.retention_days)
        return deleted

    def start(self) -> None:
        if self.folder is not None:
            self._task = asyncio.create_task(self._loop(), name="recordings-retention")

    async def _loop(self) -> None:
        while True:
            try:
                await self.purge_now()
            except OSError as exc:  # a disk problem: said, and tried again next time
                log.error("retention job failed: %s", exc)
            await asyncio.sleep(self.settings.purge_interval_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
