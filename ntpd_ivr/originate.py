"""How an Originate ended, read from Asterisk's OriginateResponse: one reading for every
domain that dials out (agency dispatches, warning campaigns).

The Reason is the `outstate` of main/channel.c `__ast_request_and_dial`: the last
AST_CONTROL_* frame (include/asterisk/frame.h) seen on the dialled channel before it
answered or gave up. 0 is left when no channel could be requested or it went away
without a frame (a 486 Busy Here is Reason 0 with cause 17 on Asterisk 22.10); 1,
AST_CONTROL_HANGUP ("other end has hungup"), when the channel was hung up before it
answered (a final failure response); 3, AST_CONTROL_RINGING, when the Originate's
Timeout ran out. So Reason 1 is a refusal, not a ring-out: only the Hangup cause can say
more, and it is worth waiting for after 0 and 1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Outcome = Literal["answered", "busy", "no-answer", "unavailable", "failed"]

_REASONS: Mapping[int, Outcome] = {
    0: "unavailable",   # endpoint unknown or unreachable, no contact
    1: "unavailable",   # AST_CONTROL_HANGUP: refused with a final response (404, 480, 503...)
    2: "no-answer",     # AST_CONTROL_RING
    3: "no-answer",     # AST_CONTROL_RINGING: rang out the Originate's Timeout
    4: "answered",      # AST_CONTROL_ANSWER
    5: "busy",          # AST_CONTROL_BUSY (486, 600)
    8: "unavailable",   # AST_CONTROL_CONGESTION
}

# Q.850 hangup causes of the dialled channel (Asterisk's Hangup event), which say more
# than the Reason.
_CAUSES: Mapping[int, Outcome] = {
    17: "busy",          # user busy (486, 600)
    18: "no-answer",     # no user responding (408)
    19: "no-answer",     # no answer
    1: "unavailable", 3: "unavailable", 20: "unavailable", 21: "unavailable",
    27: "unavailable", 34: "unavailable", 38: "unavailable", 41: "unavailable",
    42: "unavailable",
}
UNCLEAR_REASONS = frozenset({0, 1})  # the Hangup cause is worth waiting for


def outcome(response: str, reason: int, cause: int | None = None) -> Outcome:
    """The attempt's outcome from its OriginateResponse (`response`, `reason`) and, if
    known, the Q.850 cause the dialled channel hung up with."""
    if response == "Success":
        return "answered"
    if cause is not None and cause in _CAUSES:
        return _CAUSES[cause]
    read = _REASONS.get(reason, "failed")
    # Asterisk says Failure with reason 4 when the answered channel could not start its
    # dialplan: not an answer we can use.
    return "failed" if read == "answered" else read


def needs_cause(response: str, reason: int) -> bool:
    """Whether the Hangup cause is worth waiting for before reading the outcome."""
    return response != "Success" and reason in UNCLEAR_REASONS
