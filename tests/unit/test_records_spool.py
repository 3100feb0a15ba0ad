"""The call record spool on its own: no database (engine=None keeps everything spooled)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from pathlib import Path

import pytest

from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.calls.spool import COMPACT_BYTES, Position, Spool, decode_line, encode_line
from ntpd_ivr.calls.store import merge_updates
from ntpd_ivr.calls.values import CallUpdate
from ntpd_ivr.settings import RecordsSettings

DISK_STUCK_S = 10.0  # how long a write waits for the stuck disk before it gives up


def update(n: int, uniqueid: str | None = None, **changes: object) -> CallUpdate:
    return CallUpdate(uniqueid or f"1700000000.{n}", 1_700_000_000.0 + n, **changes)  # type: ignore[arg-type]


def spooled_lines(directory: Path) -> list[str]:
    return [line for path in sorted(directory.glob("calls-*.jsonl"))
            for line in path.read_text().splitlines()]


def open_spool(directory: Path, compact_bytes: int = COMPACT_BYTES) -> tuple[Spool, int]:
    spool = Spool(directory, compact_bytes)
    return spool, spool.open()


# --- CallUpdate -------------------------------------------------------------------------

def test_update_json_round_trip_keeps_every_field_and_omits_unset_ones() -> None:
    full = CallUpdate("1700000000.1", 1_700_000_000.25, linkedid="1700000000.0",
                      caller_number="+62811", trunk="telkom", dialed="112", ivr_digit="2",
                      category="fire", queue="takers-fire", route_reason="menu",
                      arrived_at=1.5, queued_at=2.5, answered_at=3.5, answered_by="PJSIP/101",
                      ended_at=4.5, hangup_cause=16, hangup_cause_text="Normal Clearing")
    assert decode_line(encode_line(full)) == full
    sparse = update(1, category="police")
    assert json.loads(encode_line(sparse)) == {"uniqueid": "1700000000.1", "at": 1_700_000_001.0,
                                            "category": "police"}
    assert decode_line(encode_line(sparse)) == sparse


@pytest.mark.parametrize("bad", [
    {"uniqueid": ""}, {"uniqueid": "1.\udcff"}, {"at": float("nan")}, {"at": float("inf")},
    {"at": -1.0},
    {"arrived_at": "yesterday"}, {"ended_at": True}, {"hangup_cause": True},
    {"hangup_cause": 2**31}, {"hangup_cause": -1}, {"caller_number": 62811},
])
def test_update_refuses_values_the_database_would_refuse(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"uniqueid": "1.1", "at": 1.0, **bad}
    with pytest.raises(ValueError):
        CallUpdate(**fields)  # type: ignore[arg-type]


def test_update_replaces_characters_postgresql_text_cannot_hold() -> None:
    dirty = update(1, caller_number="08\x001\udcff")
    assert dirty.caller_number == "08\ufffd1\ufffd"
    assert decode_line(encode_line(dirty)) == dirty


@pytest.mark.parametrize("line", ['{"uniqueid":"1.1","at":1', "[1, 2]", '"text"',
                                  '{"at": 1.0}', "\x00\x00\x00", b"\xff\xfe"])
def test_from_json_says_value_error_for_anything_not_an_update(line: str | bytes) -> None:
    with pytest.raises(ValueError):
        decode_line(line)


def test_merge_follows_the_upsert_rules() -> None:
    [row] = merge_updates([
        update(1, "a", arrived_at=200.0, caller_number="0811", category="police"),
        update(2, "a", arrived_at=150.0, category="fire"),
        update(3, "a", arrived_at=300.0, answered_by="PJSIP/101"),
    ])
    assert row["arrived_at"].timestamp() == 150.0
    assert (row["caller_number"], row["category"], row["answered_by"]) == \
        ("0811", "fire", "PJSIP/101")
    assert (row["created_at"].timestamp(), row["updated_at"].timestamp()) == \
        (1_700_000_001.0, 1_700_000_003.0)
    assert row["queue"] is None


# --- Spool (synchronous) ----------------------------------------------------------------

def test_spool_reads_in_order_and_resumes_from_the_committed_cursor(tmp_path: Path) -> None:
    spool, pending = open_spool(tmp_path)
    assert pending == 0
    spool.append(b"".join(encode_line(update(n)) for n in range(5)))
    first = spool.read(3)
    assert [u.uniqueid for u in first.updates] == [f"1700000000.{n}" for n in range(3)]
    assert spool.read(3).updates == first.updates, "read() must not move the cursor"
    spool.commit(first.end)
    spool.close()

    spool, pending = open_spool(tmp_path)
    assert pending == 2
    rest = spool.read(10)
    assert [u.uniqueid for u in rest.updates] == ["1700000000.3", "1700000000.4"]
    assert json.loads((tmp_path / "cursor.json").read_text()) == first.end._asdict()
    assert oct(tmp_path.stat().st_mode & 0o777) == oct(0o700)
    spool.close()


def test_the_cursor_file_is_rewritten_at_most_once_a_second_and_at_close(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit every 0.1 s under load rewrote cursor.json every 0.1 s; now at most once a
    second (a cursor a crash takes back only makes records apply again, harmlessly), at
    close, and at once (durably) when a segment goes."""
    clock = [100.0]
    monkeypatch.setattr("ntpd_ivr.calls.spool.monotonic", lambda: clock[0])

    def on_file() -> dict[str, int]:
        return dict(json.loads((tmp_path / "cursor.json").read_text()))

    spool, _ = open_spool(tmp_path)
    spool.append(b"".join(encode_line(update(n)) for n in range(4)))
    first, second = spool.read(1).end, spool.read(2).end
    spool.commit(first)
    assert on_file() == first._asdict()
    clock[0] += 0.5
    spool.commit(second)  # within the second: in memory only
    assert spool.cursor == second and on_file() == first._asdict()
    assert [u.uniqueid for u in spool.read(10).updates] == ["1700000000.2", "1700000000.3"]
    clock[0] += 0.6
    third = spool.read(1).end
    spool.commit(third)  # a second after the last write: written
    assert on_file() == third._asdict()
    clock[0] += 0.1
    spool.commit(spool.read(10).end)
    spool.close()  # what memory held goes to the file
    spool, pending = open_spool(tmp_path)
    assert pending == 0
    spool.close()


def test_torn_last_line_is_skipped_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool, _ = open_spool(tmp_path)
    spool.append(encode_line(update(1)))
    spool.close()
    with spool.path(1).open("ab") as file:  # crash in the middle of a write
        file.write(encode_line(update(2))[:20])

    spool, pending = open_spool(tmp_path)
    spool.append(encode_line(update(3)))
    with caplog.at_level(logging.WARNING):
        batch = spool.read(10)
    assert [u.uniqueid for u in batch.updates] == ["1700000000.1", "1700000000.3"]
    assert batch.lines == 3 and pending == 2
    assert "skipping unreadable spool line" in caplog.text
    spool.close()


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    spool, _ = open_spool(tmp_path)
    spool.close()
    # Crashed before the newline only.
    spool.path(1).write_text(encode_line(update(1)).decode().rstrip("\n"))
    spool, pending = open_spool(tmp_path)
    spool.append(encode_line(update(2)))
    assert [u.uniqueid for u in spool.read(10).updates] == ["1700000000.1", "1700000000.2"]
    assert pending == 1
    spool.close()


def test_failed_write_is_cut_off_so_the_next_line_is_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool, _ = open_spool(tmp_path)
    real_write = os.write

    def write_half_then_fail(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", write_half_then_fail)
    with pytest.raises(OSError):
        spool.append(encode_line(update(1)))
    monkeypatch.setattr(os, "write", real_write)
    spool.append(encode_line(update(2)))
    batch = spool.read(10)
    assert [u.uniqueid for u in batch.updates] == ["1700000000.2"] and batch.lines == 1
    spool.close()


def test_compaction_starts_a_new_segment_once_all_is_applied(tmp_path: Path) -> None:
    spool, _ = open_spool(tmp_path, compact_bytes=1000)
    spool.append(b"".join(encode_line(update(n)) for n in range(40)))
    spool.commit(spool.read(10).end)
    assert spool.segments == [1], "must not compact while updates remain unapplied"
    spool.commit(spool.read(100).end)
    assert spool.segments == [2] and not spool.path(1).exists()
    assert spool.cursor == Position(2, 0)
    spool.append(encode_line(update(99)))
    spool.close()

    spool, pending = open_spool(tmp_path, compact_bytes=1000)
    assert pending == 1 and [u.uniqueid for u in spool.read(10).updates] == ["1700000000.99"]
    spool.close()


def test_small_spool_is_not_compacted(tmp_path: Path) -> None:
    spool, _ = open_spool(tmp_path)
    spool.append(encode_line(update(1)))
    spool.commit(spool.read(10).end)
    assert spool.segments == [1]
    spool.close()


def test_crash_during_compaction_recovers(tmp_path: Path) -> None:
    # Crash after the new segment was made, before the cursor moved: read on into it.
    spool, _ = open_spool(tmp_path)
    spool.append(encode_line(update(1)))
    spool.commit(spool.read(10).end)
    spool.close()
    spool.path(2).write_text(encode_line(update(2)).decode())
    spool, pending = open_spool(tmp_path)
    assert pending == 1
    batch = spool.read(10)
    assert [u.uniqueid for u in batch.updates] == ["1700000000.2"]
    spool.commit(batch.end)
    assert spool.segments == [2] and not spool.path(1).exists()
    spool.close()

    # Crash after the cursor moved, before the old segment was deleted.
    spool.path(1).write_text(encode_line(update(1)).decode())
    spool, pending = open_spool(tmp_path)
    assert pending == 0 and not spool.path(1).exists()
    spool.close()


def test_unreadable_cursor_replays_the_whole_spool(tmp_path: Path) -> None:
    spool, _ = open_spool(tmp_path)
    spool.append(b"".join(encode_line(update(n)) for n in range(3)))
    spool.commit(spool.read(2).end)
    spool.close()
    (tmp_path / "cursor.json").write_text("{garbage")
    spool, pending = open_spool(tmp_path)
    assert pending == 3
    spool.close()


def test_cursor_past_the_end_is_pulled_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool, _ = open_spool(tmp_path)
    spool.append(b"".join(encode_line(update(n)) for n in range(3)))
    spool.commit(spool.read(3).end)
    spool.close()
    spool.path(1).write_bytes(b"")  # someone emptied the segment under the cursor
    spool, pending = open_spool(tmp_path)
    assert pending == 0 and spool.cursor == Position(1, 0)
    assert "past the end" in caplog.text
    spool.append(encode_line(update(9)))
    assert [u.uniqueid for u in spool.read(10).updates] == ["1700000000.9"]
    spool.close()


# --- RecordKeeper without a database ------------------------------------------------------

def settings(tmp_path: Path) -> RecordsSettings:
    return RecordsSettings(spool_dir=str(tmp_path / "spool"), batch_max=50, retry_seconds=0.05)


async def test_disabled_database_keeps_every_update_spooled(tmp_path: Path) -> None:
    keeper = RecordKeeper(settings(tmp_path), None)
    await keeper.start()
    for n in range(10):
        await keeper.record(update(n, category="fire"))
    assert keeper.state() == {"database": "disabled", "pending": 10, "applied_total": 0,
                              "last_error": None}
    # record() returned, so the line is on disk already, before any stop().
    assert len(spooled_lines(tmp_path / "spool")) == 10
    await keeper.stop()

    again = RecordKeeper(settings(tmp_path), None)
    await again.start()
    assert again.state()["pending"] == 10
    await again.record(update(10))
    await again.stop()
    lines = spooled_lines(tmp_path / "spool")
    assert [decode_line(line).uniqueid for line in lines] == \
        [f"1700000000.{n}" for n in range(11)]


@pytest.fixture
def appends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many lines each of the spool's writes (one fdatasync each) carried."""
    counted: list[int] = []
    real_append = Spool.append

    def counting_append(self: Spool, data: bytes) -> tuple[Position, Position]:
        counted.append(data.count(b"\n"))
        return real_append(self, data)

    monkeypatch.setattr(Spool, "append", counting_append)
    return counted


async def test_concurrent_records_share_one_write_and_fsync(
        tmp_path: Path, appends: list[int]) -> None:
    keeper = RecordKeeper(settings(tmp_path), None)
    await keeper.start()
    await asyncio.gather(*(keeper.record(update(n)) for n in range(200)))
    await keeper.stop()
    assert sum(appends) == 200
    assert len(appends) < 20, f"no group commit: {len(appends)} writes for 200 records"
    assert len(spooled_lines(tmp_path / "spool")) == 200


async def test_records_nobody_waits_for_gather_and_one_that_is_waited_for_goes_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, appends: list[int]) -> None:
    """The AMI consumer's records (submitted, not awaited) share writes over
    LAZY_GATHER_SECONDS; urge() (the IVR waiting for its decision) writes at once."""
    monkeypatch.setattr("ntpd_ivr.calls.keeper.LAZY_GATHER_SECONDS", 0.3)
    keeper = RecordKeeper(settings(tmp_path), None)
    await keeper.start()
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        trickle = []
        for n in range(10):  # one every 10 ms, as AMI events come
            trickle.append(keeper.submit(update(n)))
            await asyncio.sleep(0.01)
        await asyncio.gather(*trickle)
        # 5 ms apart they would have been 10 writes; gathered they are one or two.
        assert sum(appends) == 10 and len(appends) <= 2, appends
        assert loop.time() - started >= 0.25

        appends.clear()
        waited = keeper.submit(update(10))
        keeper.urge()
        started = loop.time()
        await waited
        assert loop.time() - started < 0.2, "an urged record waited for the gathering"
        assert appends == [1]
        started = loop.time()
        await keeper.record(update(11))  # record() urges by itself
        assert loop.time() - started < 0.2
    finally:
        await keeper.stop()


async def test_submit_never_waits_for_the_disk_and_keeps_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_append = Spool.append
    # The disk is stuck until all 300 submit()s have returned: a submit() that waited for
    # a write would wait for a disk that only its own return frees (then the write gives
    # up after DISK_STUCK_S and says so). An ordering, not a stopwatch.
    disk_free = threading.Event()
    waited_for: list[str] = []

    def stuck_append(self: Spool, data: bytes) -> tuple[Position, Position]:
        if not disk_free.wait(DISK_STUCK_S):  # a stuck fsync, in the spool's own thread
            waited_for.append(threading.current_thread().name)
            disk_free.set()
        return real_append(self, data)

    monkeypatch.setattr(Spool, "append", stuck_append)
    keeper = RecordKeeper(settings(tmp_path), None)
    await keeper.start()
    futures = [keeper.submit(update(n)) for n in range(300)]   # as the AMI consumer does
    disk_free.set()
    await asyncio.gather(*futures)
    await keeper.stop()
    assert waited_for == [], f"submit() waited for the disk (in {waited_for})"
    lines = spooled_lines(tmp_path / "spool")
    assert [decode_line(line).uniqueid for line in lines] == \
        [f"1700000000.{n}" for n in range(300)]


async def test_record_outside_start_stop_is_refused(tmp_path: Path) -> None:
    keeper = RecordKeeper(settings(tmp_path), None)
    with pytest.raises(RuntimeError):
        await keeper.record(update(1))
    await keeper.start()
    await keeper.stop()
    with pytest.raises(RuntimeError):
        await keeper.record(update(1))


async def test_cancelled_caller_does_not_break_the_keeper(tmp_path: Path) -> None:
    keeper = RecordKeeper(settings(tmp_path), None)
    await keeper.start()
    first = asyncio.create_task(keeper.record(update(1)))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await keeper.record(update(2))
    await keeper.stop()
    # The cancelled update may or may not have been written; the later one always is.
    assert "1700000000.2" in {decode_line(line).uniqueid
                              for line in spooled_lines(tmp_path / "spool")}


async def test_spool_write_failure_reaches_the_caller(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(self: Spool, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    keeper = RecordKeeper(settings(tmp_path), None)
    await keeper.start()
    monkeypatch.setattr(Spool, "append", full_disk)
    with pytest.raises(OSError, match="No space left"):
        await keeper.record(update(1))
    monkeypatch.undo()
    await keeper.record(update(2))
    assert keeper.state()["pending"] == 1
    await keeper.stop()
