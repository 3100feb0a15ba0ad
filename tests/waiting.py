"""Waiting in tests, on a machine that may be loaded (issue 20): wait for an event, with a
deadline generous enough that only a missing event reaches it. A deadline here is never a
budget: what must be fast is proved by an ordering (an event that would have come after
it), by a limit set far beyond every deadline, or measured in ntpd_ivr/bench."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from ntpd_ivr.stack.asterisk import AsteriskInstance
from ntpd_ivr.stack.sipp import Taker

WAIT_S = 30.0  # how long a test waits for an event that should come
POLL_S = 0.01


async def eventually(check: Callable[[], object], what: str = "the condition",
                     within: float = WAIT_S) -> None:
    """Return once `check()` is true; fail, saying `what`, after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(POLL_S)


def standing_by(*takers: Taker, within: float = WAIT_S) -> None:
    """Each SIPp stand-in has answered an OPTIONS of Asterisk's qualify (every second): it
    is bound, and Asterisk holds its contact reachable, so a call placed next rings it. The
    event that a 0.3 s sleep "to let SIPp bind" used to guess at."""
    for taker in takers:
        assert taker.wait_qualified(within), (
            f"a stand-in never answered Asterisk's qualify in {within} s: {taker.logs()}")


AVAILABLE = re.compile(r"\sAvail\s")  # a contact's status column ("Unavail" is not it)


def held_reachable(asterisk: AsteriskInstance | None, *aors: str,
                   within: float = WAIT_S) -> None:
    """Asterisk holds the contact of each of `aors` "Avail": what a Dial to a stand-in (the
    callback line, an agency's trunk, the warning trunk) goes by, since a Dial refuses an
    unavailable contact at once (CHANUNAVAIL) where a queue tries again. `standing_by` is
    SIPp's view (it answered an OPTIONS); this is Asterisk's, read just before the call.
    Stop 31's submission failed CI on a callback that dialled a phone SIPp said was
    qualified and got CHANUNAVAIL with no INVITE sent. Why Asterisk held it unavailable is
    not known: a SIPp stalled 2.5 s after binding (SIGSTOP) was held "Avail" 40 ms after it
    answered, so a late first answer is not it; an answer slower than the test stacks'
    1 s qualify_timeout on a loaded machine would be."""
    assert asterisk is not None
    deadline = time.monotonic() + within
    for aor in aors:
        while not AVAILABLE.search(shown := asterisk.cli(f"pjsip show aor {aor}")):
            assert time.monotonic() < deadline, (
                f"Asterisk never held {aor}'s contact reachable in {within} s:\n{shown}")
            time.sleep(0.1)
