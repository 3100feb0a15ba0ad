"""Login failures counted per user name and per address (issue 9, security).

Past `failures` in `window_seconds` for either key, the next attempt is refused with 429
and Retry-After before the password is even hashed: guessing stays slow, and a flood of
logins cannot keep the CPU busy with scrypt. A success clears the user's count only; the
address keeps its count, so one known account cannot be used to reset the guessing of
another. The cost is that someone failing on purpose can lock a name for one window.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoginLimits:
    failures: int = 5
    window_seconds: float = 300.0
    # Bound on remembered keys: a scan of many names or addresses cannot grow memory.
    max_keys: int = 10_000


class LoginLimiter:
    def __init__(self, limits: LoginLimits = LoginLimits(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    @staticmethod
    def _keys(user: str, address: str) -> tuple[str, str]:
        return f"user:{user[:64]}", f"addr:{address}"

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.get(key, deque())
        while stamps and stamps[0] <= now - self.limits.window_seconds:
            stamps.popleft()
        if not stamps:
            self._failures.pop(key, None)
        return stamps

    def retry_after(self, user: str, address: str) -> int | None:
        """Whole seconds to wait before this user may try from this address; None: go on."""
        now = self._clock()
        waits = [stamps[-self.limits.failures] + self.limits.window_seconds - now
                 for key in self._keys(user, address)
                 if len(stamps := self._recent(key, now)) >= self.limits.failures]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        for key in self._keys(user, address):
            stamps = self._recent(key, now)
            if key not in self._failures:
                self._make_room(now)
                self._failures[key] = stamps
            stamps.append(now)
            while len(stamps) > self.limits.failures:
                stamps.popleft()

    def succeeded(self, user: str) -> None:
        self._failures.pop(self._keys(user, "")[0], None)

    def _make_room(self, now: float) -> None:
        if len(self._failures) < self.limits.max_keys:
            return
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= self.limits.max_keys:
            del self._failures[next(iter(self._failures))]  # the oldest key first
