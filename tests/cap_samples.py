"""The recorded CAP samples (tests/data/cap), served as if they had just been published:
every CAP time in them moved by the same amount, so that an alert recorded on one day is
still current (not expired) on the day the tests run, and its times keep their order."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "data" / "cap"
RECORDED_AT = datetime(2026, 12, 7, 12, 31, 2, tzinfo=UTC)  # the InaTEWS sample's sent
_CAP_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")


class Replay:
    """One replay: the shift is fixed when it is made (a document read twice is the same)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.shift = timedelta(seconds=int(
            ((now or datetime.now(UTC)) - RECORDED_AT).total_seconds()))

    def body(self, name: str) -> bytes:
        data = (SAMPLES / name).read_bytes()

        def moved(match: re.Match[bytes]) -> bytes:
            when = datetime.fromisoformat(match.group().decode()) + self.shift
            return when.isoformat().encode()

        return _CAP_TIME.sub(moved, data)
