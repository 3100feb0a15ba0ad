"""An async AMI Originate and how it ended, for every domain that dials a leg and waits for
its answer before acting on it (a connect dispatch's agency, a transfer's neighbouring 112
center): one place that matches Asterisk's OriginateResponse to its action and, when that
leaves the outcome unclear, the dialled channel's Hangup cause (ntpd_ivr/originate.py).

The action must carry an ActionID (it comes back on the OriginateResponse) and a ChannelId
(the dialled leg's uniqueid, known before it exists, so its Hangup can be matched)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from ntpd_ivr.ami.events import AmiActions, AmiEvent, Hangup, OriginateResponse
from ntpd_ivr.clock import event_datetime, utcnow
from ntpd_ivr.errors import AmiError
from ntpd_ivr.originate import Outcome, needs_cause, outcome

log = logging.getLogger(__name__)

ANSWER_MARGIN_SECONDS = 5.0  # past the ring time, an OriginateResponse that never comes
# A failed attempt's Hangup event (its cause) may come just after the OriginateResponse:
# the two take different paths through Asterisk.
CAUSE_WAIT_SECONDS = 0.5


class Originated(NamedTuple):
    outcome: Outcome
    at: datetime   # Asterisk's time of the answer or failure (ours when it never said)
    channel: str   # the dialled leg's channel name ('' when unknown)


class Originator:
    def __init__(self, ami: AmiActions, *,
                 answer_margin_seconds: float = ANSWER_MARGIN_SECONDS) -> None:
        self.ami = ami
        self.answer_margin_seconds = answer_margin_seconds
        self._answers: dict[str, asyncio.Future[OriginateResponse]] = {}  # ActionID ->
        self._hangups: dict[str, asyncio.Future[int]] = {}  # dialled leg's uniqueid -> cause

    def on_event(self, event: AmiEvent) -> None:
        """Every AMI event, in order; never waits."""
        if isinstance(event, OriginateResponse):
            answer = self._answers.get(event.action_id)
            if answer is not None and not answer.done():
                answer.set_result(event)
        elif isinstance(event, Hangup):
            hangup = self._hangups.get(event.uniqueid)
            if hangup is not None and not hangup.done():
                hangup.set_result(event.cause)

    async def originate(self, action: Mapping[str, str], ring_seconds: float, *,
                        what: str, call_id: str) -> Originated:
        """Send `action` (an async Originate) and wait for how it ended: answered, busy,
        no-answer, unavailable or failed (Asterisk refused the action, or no answer came
        within the ring time and a margin), with Asterisk's time of it. `what` names the
        attempt in the log ("dispatch 12", "transfer 9f0c...")."""
        key, leg = action["ActionID"], action["ChannelId"]
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[OriginateResponse] = loop.create_future()
        hangup: asyncio.Future[int] = loop.create_future()
        self._answers[key] = answer
        self._hangups[leg] = hangup
        trunk = action.get("Channel", "?")
        try:
            await self.ami.action(dict(action))
            async with asyncio.timeout(ring_seconds + self.answer_margin_seconds):
                response = await answer
            cause = None
            if needs_cause(response.response, response.reason):
                try:
                    async with asyncio.timeout(CAUSE_WAIT_SECONDS):
                        cause = await hangup
                except TimeoutError:
                    pass
        except AmiError as exc:
            log.warning("%s: Originate to %s refused: %s", what, trunk, exc,
                        extra={"call_id": call_id})
            return Originated("failed", utcnow(), "")
        except TimeoutError:
            log.warning("%s: no OriginateResponse for %s within %g s", what, trunk,
                        ring_seconds + self.answer_margin_seconds, extra={"call_id": call_id})
            return Originated("failed", utcnow(), "")
        finally:
            self._answers.pop(key, None)
            self._hangups.pop(leg, None)
        log.debug("%s: OriginateResponse %s reason %d cause %s for %s", what,
                  response.response, response.reason, cause, trunk, extra={"call_id": call_id})
        return Originated(outcome(response.response, response.reason, cause),
                          event_datetime(response), response.channel or "")


def originate_leg(leg_id: str, channel: str, context: str, ring_seconds: int,
                  caller_id: str, variables: Mapping[str, str]) -> dict[str, str]:
    """The async Originate of a leg that answers into `context` (exten s): an agency's,
    or a neighbouring 112 center's (ntpd_ivr/transfer/call.py)."""
    # Originate splits Variable on commas outside parentheses (manager.c
    # astman_get_variables_order, ast_app_separate_args): the values must have none; they
    # are ids, numbers, header values and prompt paths joined by &.
    for name, value in variables.items():
        if "," in value or "\n" in value or "\r" in value:
            raise ValueError(f"{name} may not hold a comma or a newline: {value!r}")
    # ChannelId: the leg's uniqueid is known before it exists, so its Hangup event (with
    # the Q.850 cause: busy, no answer...) can be matched to the attempt.
    return {"Action": "Originate", "ActionID": leg_id, "ChannelId": leg_id,
            "Channel": channel, "Context": context, "Exten": "s", "Priority": "1",
            "Timeout": str(ring_seconds * 1000), "Async": "true", "CallerID": caller_id,
            "Variable": ",".join(f"{name}={value}" for name, value in variables.items())}
