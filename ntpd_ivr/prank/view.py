"""The in-memory strike view the IVR reads on the call path: no database round trip per
call. Loaded at start, replaced by a periodic refresh, and kept current between refreshes
by the controller's own writes (re-applied over a refresh until it has seen them).

When the last refresh failed (PostgreSQL down) or none has succeeded yet, `times()` says
"unavailable" (None) and the policy treats every caller as strike-free.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# Own changes are re-applied over refreshes that started up to this long after they were
# committed (a refresh reads a snapshot; a commit landing during it may be missing).
REAPPLY_MARGIN_SECONDS = 5.0


@dataclass
class _Change:
    number: str
    strike_at: datetime | None   # a strike added; None: the number's strikes cleared
    committed_at: float | None = None  # monotonic; None while its write is pending


class StrikeView:
    def __init__(self) -> None:
        self._strikes: dict[str, list[datetime]] = {}
        self._changes: list[_Change] = []
        self.available = False
        self.loaded_at: float | None = None   # monotonic, of the last good refresh
        self.last_error: str | None = None

    def times(self, number: str) -> Sequence[datetime] | None:
        """The number's uncleared strikes; None when the view is unavailable."""
        if not self.available:
            return None
        return self._strikes.get(number, ())

    def numbers(self) -> int:
        return len(self._strikes)

    def _apply(self, change: _Change) -> None:
        if change.strike_at is None:
            self._strikes.pop(change.number, None)
        else:
            self._strikes.setdefault(change.number, []).append(change.strike_at)

    def change(self, number: str, strike_at: datetime | None) -> _Change:
        """The controller's own change, applied now; `committed()` it once written."""
        change = _Change(number, strike_at)
        self._changes.append(change)
        self._apply(change)
        return change

    def committed(self, change: _Change) -> None:
        change.committed_at = time.monotonic()

    def forget(self, change: _Change) -> None:
        """A change whose write failed for good: the next refresh no longer re-applies it."""
        if change in self._changes:
            self._changes.remove(change)

    def replace(self, strikes: Mapping[str, list[datetime]], started_at: float) -> None:
        """A refresh read at monotonic `started_at`: the database's strikes, then the own
        changes it may not have seen."""
        self._changes = [c for c in self._changes if c.committed_at is None
                         or c.committed_at > started_at - REAPPLY_MARGIN_SECONDS]
        self._strikes = {number: list(times) for number, times in strikes.items()}
        for change in self._changes:
            if change.strike_at is None or change.strike_at not in self._strikes.get(
                    change.number, ()):
                self._apply(change)
        self.available = True
        self.loaded_at = time.monotonic()
        self.last_error = None

    def failed(self, error: str) -> None:
        """A refresh failed: until one succeeds, every caller is strike-free."""
        self.available = False
        self.last_error = error
