"""Recording files and retention (ntpd_ivr/recordings): only Asterisk uniqueids are ever
names of recordings; expired ones go, nothing else is touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from ntpd_ivr.recordings.model import RecordingFile, expired, file_name, uniqueid_of
from ntpd_ivr.recordings.service import RecordingService, purge
from ntpd_ivr.settings import RecordingsSettings
from tests.waiting import eventually

DAY = 86400.0
NOW = 1_800_000_000.0


@pytest.mark.parametrize(("name", "uniqueid"), [
    ("1764417600.12.wav", "1764417600.12"), ("1764417600.12.gsm", None),
    ("../1764417600.12.wav", None), ("notes.wav", None), ("1764417600.wav", None),
    (".1.wav", None)])
def test_only_uniqueids_name_recordings(name: str, uniqueid: str | None) -> None:
    assert uniqueid_of(name) == uniqueid


@pytest.mark.parametrize("bad", ["../etc/passwd", "1.2/../3", "", "1.2.wav", "abc.1"])
def test_a_file_name_is_never_made_of_anything_but_a_uniqueid(bad: str) -> None:
    with pytest.raises(ValueError, match="not an Asterisk uniqueid"):
        file_name(bad)


def test_expired_recordings_are_those_older_than_the_retention_oldest_first() -> None:
    files = [RecordingFile("1.1.wav", NOW - 91 * DAY, 10),
             RecordingFile("1.2.wav", NOW - 89 * DAY, 10),
             RecordingFile("1.0.wav", NOW - 200 * DAY, 10),
             RecordingFile("keep-me.txt", NOW - 400 * DAY, 10)]
    assert [f.name for f in expired(files, NOW, 90)] == ["1.0.wav", "1.1.wav"]
    assert expired(files, NOW, 365) == []


def test_purge_deletes_expired_recordings_and_nothing_else(tmp_path: Path) -> None:
    for name, age_days in (("1.1.wav", 100), ("1.2.wav", 1), ("readme.txt", 100)):
        path = tmp_path / name
        path.write_bytes(b"RIFF")
        os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    assert purge(tmp_path, 90, now=NOW) == ["1.1.wav"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.2.wav", "readme.txt"]
    assert purge(tmp_path / "missing", 90, now=NOW) == []


async def test_the_controllers_job_enforces_retention_on_its_own(tmp_path: Path) -> None:
    old, fresh = tmp_path / "1.1.wav", tmp_path / "1.2.wav"
    for path in (old, fresh):
        path.write_bytes(b"RIFF")
    os.utime(old, (time.time() - 31 * DAY, time.time() - 31 * DAY))
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")  # unused
    job = RecordingService(RecordingsSettings(dir=str(tmp_path), retention_days=30,
                                              purge_interval_seconds=0.05), engine)
    job.start()
    try:
        await eventually(lambda: not old.exists(), "the old recording purged")
        assert not old.exists() and fresh.exists()
        os.utime(fresh, (time.time() - 31 * DAY, time.time() - 31 * DAY))
        await eventually(lambda: not fresh.exists(), "purged again at the next run")
        assert not fresh.exists()
    finally:
        await job.stop()
        await engine.dispose()
