"""Sending a caller to a neighbouring 112 center, the pure part (docs/eido.md, "Sending a
transfer"): the states a transfer goes through, why one fails, what the neighbour's leg is
dialled with, and the caller ID it shows. No I/O: ntpd_ivr/transfer/call.py does the AMI.

A transfer is named by the reference the neighbour gave our EIDO (32 hex digits): the same
name on our call's steps, in our audit trail, in the neighbour's `transfers_in` row and in
the Call-Info of the INVITE. Its conference is the dispatch conference's, room
`t<reference>` (ConfBridge ntpd-dispatch-t<reference>), so a caller left alone in it goes
back to a call-taker as after a dispatch (ntpd_ivr/dispatch/service.py).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.originator import originate_leg
from ntpd_ivr.numbers import E164, parse_caller, trunk_number
from ntpd_ivr.originate import Outcome
from ntpd_ivr.transfer.model import CALL_REASONS, STATES

__all__ = ["CALL_REASONS", "STATES"]  # the model's, where this module's readers look

# What the desk shows, in order (model.STATES); `failed` ends it with a reason
# (model.CALL_REASONS), `completed` is the caller with the other center and our call-taker
# gone.
FINAL = frozenset({"completed", "failed"})
NEXT: Mapping[str, frozenset[str]] = {
    "ringing": frozenset({"answered", "failed"}),
    "answered": frozenset({"accepted", "failed"}),
    "accepted": frozenset({"completed", "failed"}),
    "completed": frozenset(), "failed": frozenset()}
# call_events kinds and audit actions: transfer.<state>
KIND_PREFIX = "transfer."
LEG_PREFIX = "ntpd-transfer-"   # the neighbour leg's uniqueid: <prefix><reference>
NUMBER = "112"                  # what the INVITE to the other center dials: a short code,
                                # the same digits in every number_format
LANGUAGE = "id"                 # what the other center hears
ANNOUNCEMENT = (f"{LANGUAGE}/transfer-intro", f"{LANGUAGE}/dispatch-press")
ANNOUNCEMENT_SECONDS = 6        # about how long the announcement takes (espeak-ng, id)
KEY_SECONDS = 5                 # wait for a key after each round
WAIT_SECONDS = 10               # after key 1, the leg waits this long for the controller
_CALLER_ID = re.compile(r"^[+]?[0-9A-Za-z]{1,32}$")


class TransferRefused(Exception):
    """The transfer cannot start (no contact, the caller not with this call-taker)."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in CALL_REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Transfer:
    """One transfer of a live caller, as the controller follows it."""

    reference: str
    incident_id: int | None
    neighbour: str          # its key in the routing config ('' after a restart)
    name: str
    caller: str             # the caller's uniqueid
    actor: str              # the call-taker who started it
    state: str = "ringing"
    reason: str | None = None
    taker_channel: str | None = None     # our call-taker's leg (found at the accept)
    caller_channel: str | None = None    # the caller's (found at the accept)
    neighbour_channel: str | None = None  # the neighbour's leg (its key event names it)

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def to(self, state: str, **changes: Any) -> Transfer:
        """The transfer in `state`; ValueError when it cannot go there from here (a late
        event about a transfer that has ended, or moved on)."""
        if state not in NEXT.get(self.state, frozenset()):
            raise ValueError(f"transfer {self.reference} is {self.state}, not {state}")
        return dataclasses.replace(self, state=state, **changes)

    def desk(self) -> dict[str, Any]:
        """What the call-taker's screen gets (the workspace topic, `transfer.state`)."""
        return {"transfer": self.reference, "incident_id": self.incident_id,
                "call": self.caller, "neighbour": self.neighbour, "name": self.name,
                "state": self.state, "reason": self.reason}


def room(reference: str) -> str:
    """The transfer's room in [ntpd-dispatch-conference] (caller-<room>, taker-<room>)."""
    return f"{dp.TRANSFER_ROOM_PREFIX}{reference}"


def leg_id(reference: str) -> str:
    return f"{LEG_PREFIX}{reference}"


def outcome_reason(outcome: Outcome) -> str:
    """Why the neighbour's leg was not answered, from its Originate's outcome."""
    return {"busy": "busy", "no-answer": "no-answer"}.get(outcome, "unreachable")


def key_reason(result: str) -> str:
    """Why the neighbour did not accept, from its key event (accept is no failure)."""
    return {"refuse": "refused", "no-input": "no-input", "hangup": "hung-up"}.get(
        result, "error")


def caller_id(number: str, number_format: str = E164) -> str:
    """The caller's own caller ID for the INVITE to the other center: a number written
    the way that trunk writes numbers; a withheld or odd one as 'anonymous'."""
    parsed = parse_caller(number)
    shown = "anonymous"
    if parsed.is_number:
        try:
            shown = trunk_number(parsed.value, number_format)
        except ValueError:  # a foreign number on a national trunk: as it came
            shown = parsed.value
    if not _CALLER_ID.match(shown):
        shown = "anonymous"
    return f'"{shown}" <{shown}>'


def rounds(accept_seconds: int, key_seconds: int = KEY_SECONDS) -> int:
    """How many times the other center hears the announcement: its call-taker may answer
    its queue only after a while; about `accept_seconds` in all."""
    return max(1, math.ceil(accept_seconds / (key_seconds + ANNOUNCEMENT_SECONDS)))


def originate(transfer: Transfer, trunk: str, ring_seconds: int, accept_seconds: int,
              shown: str, call_info: str, prompts_dir: str) -> dict[str, str]:
    """The async Originate of the neighbour's leg: PJSIP/112@<its trunk> (the AOR of its
    `contact`), answering into [ntpd-transfer-neighbour], with the Call-Info header set on
    the outgoing channel before it is called and the caller's caller ID."""
    variables = {
        dp.FUNC_TRANSFER_CALL_INFO: call_info,
        dp.VAR_TRANSFER: transfer.reference, dp.VAR_TRANSFER_CALLER: transfer.caller,
        dp.VAR_TRANSFER_ANNOUNCE: "&".join(f"{prompts_dir}/{p}" for p in ANNOUNCEMENT),
        dp.VAR_TRANSFER_KEY_SECONDS: str(KEY_SECONDS),
        dp.VAR_TRANSFER_ROUNDS: str(rounds(accept_seconds)),
        dp.VAR_TRANSFER_WAIT: str(WAIT_SECONDS)}
    return originate_leg(leg_id(transfer.reference), f"PJSIP/{NUMBER}@{trunk}",
                             dp.CONTEXT_TRANSFER_NEIGHBOUR, ring_seconds, shown, variables)


def redirect_leg(channel: str, exten: str) -> dict[str, str]:
    """The neighbour's leg, waiting after key 1, to bridge-<room> or caller-gone."""
    return {"Action": "Redirect", "Channel": channel,
            "Context": dp.CONTEXT_TRANSFER_NEIGHBOUR, "Exten": exten, "Priority": "1"}


def hangup(channel: str) -> dict[str, str]:
    return {"Action": "Hangup", "Channel": channel}
