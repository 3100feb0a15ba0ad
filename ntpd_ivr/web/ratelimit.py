"""Login failures counted per (user, address) and per address (issues 9 and 19).

Past `per_user_address` failures in the window for one user from one address, that pair
is refused with 429 and Retry-After before any password is hashed; past `per_address`
failures from one address (whatever the names), that address is. A user is never locked
out for everyone: the right password from another address is still checked, so a
stranger failing on purpose cannot keep a supervisor out. Guessing one password from many
addresses is slowed by the hashing bound instead (ntpd_ivr/web/auth.py PasswordChecker),
and every failure is in the audit trail.

Every refused login (wrong password, limited, or hashing busy) is answered only after
`refusal_delay_seconds` (a timer, no CPU): a client that waits for its answers, as
scripts and browsers do, can then send about one attempt a second, so a flood costs the
event loop little. At most `max_delayed` answers wait at once; past that they go at once.

Addresses are the client's as ntpd_ivr/web/client.py says (a trusted proxy's
X-Forwarded-For, else the socket's peer); IPv6 ones are counted per /64, the block one
host usually holds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoginLimits:
    per_user_address: int = 5
    per_address: int = 20
    window_seconds: float = 300.0
    refusal_delay_seconds: float = 1.0
    max_delayed: int = 1000
    # Bound on remembered keys: a scan of many names or addresses cannot grow memory.
    max_keys: int = 10_000


def address_block(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginLimiter:
    def __init__(self, limits: LoginLimits = LoginLimits(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._delayed = 0

    def _keys(self, user: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
        block = address_block(address)
        return ((f"pair:{user[:64]}\0{block}", self.limits.per_user_address),
                (f"addr:{block}", self.limits.per_address))

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
        waits = [stamps[-limit] + self.limits.window_seconds - now
                 for key, limit in self._keys(user, address)
                 if len(stamps := self._recent(key, now)) >= limit]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        for key, limit in self._keys(user, address):
            stamps = self._recent(key, now)
            if key not in self._failures:
                self._make_room(now)
                self._failures[key] = stamps
            stamps.append(now)
            while len(stamps) > limit:
                stamps.popleft()

    def succeeded(self, user: str, address: str) -> None:
        """Clears this pair only: the address keeps its count, so one known account cannot
        be used to reset the guessing of another."""
        self._failures.pop(self._keys(user, address)[0][0], None)

    async def slow_down(self) -> None:
        """Before a refusal is answered."""
        if self.limits.refusal_delay_seconds <= 0 or self._delayed >= self.limits.max_delayed:
            return
        self._delayed += 1
        try:
            await asyncio.sleep(self.limits.refusal_delay_seconds)
        finally:
            self._delayed -= 1

    def _make_room(self, now: float) -> None:
        if len(self._failures) < self.limits.max_keys:
            return
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= self.limits.max_keys:
            del self._failures[next(iter(self._failures))]  # the oldest key first


# Remembered client addresses of a RateLimit: a scan cannot grow memory.
MAX_ADDRESSES = 10_000


class RateLimit:
    """At most `per_minute` requests per key in any 60 s (a sliding window)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = self.clock()
        seen = self._seen.setdefault(key, deque())
        self._seen.move_to_end(key)
        while seen and now - seen[0] >= 60.0:
            seen.popleft()
        while len(self._seen) > MAX_ADDRESSES:
            self._seen.popitem(last=False)
        if len(seen) >= self.per_minute:
            return False
        seen.append(now)
        return True
