"""The callback list's rules as pure functions: which callback an abandoned call joins,
what an attempt's outcome does, when the next try is due, and the figures. No I/O.

- Every 112 call abandoned in the IVR or in a queue joins the list, except those without
  a number to call (withheld, unknown).
- Dedupe by number: an abandoned call joins the number's open callback when that one's
  last abandoned call was at most `dedupe` earlier (three tries in 10 minutes: one
  callback); otherwise it opens a callback of its own.
- A callback is cleared when the caller gets through by themselves (a later call of the
  number answered).
- Outcomes: reached; busy or no answer, tried again after `retry` until `max_attempts`
  attempts, then failed. A call-taker who does not pick up their own phone costs the
  caller no attempt.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ntpd_ivr.calls.values import CUT_BY_NODE_FAILURE, CUT_BY_SITE_FAILURE
from ntpd_ivr.errors import Refusal
from ntpd_ivr.numbers import MARKERS

WAITING, CALLING, NO_ANSWER, BUSY = "waiting", "calling", "no-answer", "busy"
REACHED, FAILED, CLEARED = "reached", "failed", "cleared"
STATUSES = (WAITING, CALLING, NO_ANSWER, BUSY, REACHED, FAILED, CLEARED)
OPEN = (WAITING, CALLING, NO_ANSWER, BUSY)
CLOSED = (REACHED, FAILED, CLEARED)
TAKER_NO_ANSWER = "taker-no-answer"  # the call-taker's phone did not pick up: caller not dialled
OUTCOMES = (REACHED, NO_ANSWER, BUSY, TAKER_NO_ANSWER, FAILED)
# A caller cut by a dying Asterisk node is owed a callback as much as one who gave up.
ABANDONED_DISPOSITIONS = ("abandoned-in-queue", "hung-up-in-ivr", CUT_BY_NODE_FAILURE,
                          CUT_BY_SITE_FAILURE)


class CallbackError(Refusal):
    """A refusal with its HTTP status and error id."""

    status = 409
    error = "conflict"


class NotFound(CallbackError):
    status = 404
    error = "not-found"


class NotOpen(CallbackError):
    error = "not-open"


class InProgress(CallbackError):
    error = "in-progress"


class NoEndpoint(CallbackError):
    error = "no-endpoint"


class NoLine(CallbackError):
    error = "no-callback-line"


class NotCallable(CallbackError):
    """The listed number cannot be written the way the callback line wants it."""

    error = "not-callable"


@dataclass(frozen=True)
class Policy:
    dedupe: timedelta = timedelta(minutes=10)
    max_attempts: int = 3
    retry: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Abandoned:
    uniqueid: str
    caller_number: str
    at: datetime


@dataclass(frozen=True)
class OpenCallback:
    id: int
    caller_number: str
    last_abandoned_at: datetime


def callable_number(number: str | None) -> bool:
    """A number the center can dial back (not withheld, unknown or invalid)."""
    return bool(number) and number not in MARKERS


def joins(call: Abandoned, open_callbacks: Iterable[OpenCallback], policy: Policy) -> int | None:
    """The open callback this abandoned call joins, or None: it opens a new one."""
    near = [c for c in open_callbacks if c.caller_number == call.caller_number
            and abs(call.at - c.last_abandoned_at) <= policy.dedupe]
    if not near:
        return None
    return max(near, key=lambda c: (c.last_abandoned_at, c.id)).id


def outcome_of(dial_status: str) -> str:
    """The caller leg's DIALSTATUS (the callback dialplan's UserEvent) as an outcome."""
    if dial_status == "ANSWER":
        return REACHED
    if dial_status == "BUSY":
        return BUSY
    if dial_status in ("REFUSED", "INVALIDARGS"):
        return FAILED
    return NO_ANSWER  # NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL: try again later


@dataclass(frozen=True)
class AfterAttempt:
    status: str
    attempts: int
    next_attempt_at: datetime | None
    closed: bool


def after_attempt(status_before: str, attempts_before: int, outcome: str, now: datetime,
                  policy: Policy) -> AfterAttempt:
    """The callback after one attempt's outcome. `status_before`: before it was called."""
    if outcome == TAKER_NO_ANSWER:
        # Nobody dialled the caller: the callback is as it was, and due again soon.
        return AfterAttempt(status_before, attempts_before, now + policy.retry, False)
    attempts = attempts_before + 1
    if outcome == REACHED:
        return AfterAttempt(REACHED, attempts, None, True)
    if outcome == FAILED or attempts >= policy.max_attempts:
        return AfterAttempt(FAILED, attempts, None, True)
    return AfterAttempt(outcome, attempts, now + policy.retry, False)


def retry_schedule(first: datetime, policy: Policy) -> list[datetime]:
    """When each attempt falls if none reaches the caller and each is made when due."""
    return [first + policy.retry * n for n in range(policy.max_attempts)]


@dataclass(frozen=True)
class CallbackRow:
    status: str
    abandoned_at: datetime
    first_attempt_at: datetime | None


def figures(rows: Sequence[CallbackRow]) -> dict[str, Any]:
    """Time from abandon to callback (first attempt), share reached of those attempted."""
    delays = sorted((r.first_attempt_at - r.abandoned_at).total_seconds() for r in rows
                    if r.first_attempt_at is not None)
    attempted = len(delays)
    reached = sum(1 for r in rows if r.status == REACHED)

    def pct(part: int, whole: int) -> float | None:
        return round(100.0 * part / whole, 2) if whole else None

    return {
        "callbacks": len(rows), "open": sum(1 for r in rows if r.status in OPEN),
        "attempted": attempted, "reached": reached,
        "cleared": sum(1 for r in rows if r.status == CLEARED),
        "reached_pct": pct(reached, attempted),
        "average_abandon_to_callback_seconds":
            round(sum(delays) / attempted, 1) if attempted else None,
        "p90_abandon_to_callback_seconds":
            delays[max(0, math.ceil(0.9 * attempted) - 1)] if attempted else None,
    }
