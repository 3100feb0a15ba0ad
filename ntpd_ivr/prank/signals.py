"""Silent-call signals of one call, and the rule that says a call was silent. Pure.

Voice comes from Asterisk's TALK_DETECT on the caller's channel (the dialplan sets it
after Answer(); AMI ChannelTalkingStart events): during the IVR (before the queue) and
while waiting (in the queue, before a call-taker answers). DTMF is the IVR's digit or the
escape key. The hang-up pattern: the caller left in the IVR, or the call ended within
`silent_after_answer_s` of a call-taker's answer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CallSignals:
    """What the controller saw of one live 112 call (mutable: it fills in as events come)."""

    uniqueid: str
    caller: str
    region: str
    started_at: float            # epoch seconds
    dtmf: bool = False
    voice_ivr: bool = False
    voice_waiting: bool = False
    queued_at: float | None = None
    answered_at: float | None = None

    def talking(self) -> None:
        if self.answered_at is not None:
            return  # a conversation with the call-taker says nothing about silence
        if self.queued_at is None:
            self.voice_ivr = True
        else:
            self.voice_waiting = True


@dataclass(frozen=True)
class Verdict:
    silent: bool
    hangup: str   # in-ivr, waiting, after-answer
    seconds_after_answer: float | None = None

    def as_detail(self, signals: CallSignals) -> dict[str, str | bool | float | None]:
        return {"dtmf": signals.dtmf, "voice_ivr": signals.voice_ivr,
                "voice_waiting": signals.voice_waiting, "hangup": self.hangup,
                "seconds_after_answer": self.seconds_after_answer, "silent": self.silent}


def judge(signals: CallSignals, ended_at: float, silent_after_answer_s: float) -> Verdict:
    """Silent: no DTMF, no voice before a call-taker, and it ended in the IVR or within
    `silent_after_answer_s` of the answer. A caller who waited in the queue and gave up is
    not counted: genuine callers give up too."""
    quiet = not (signals.dtmf or signals.voice_ivr or signals.voice_waiting)
    if signals.answered_at is not None:
        after = round(max(0.0, ended_at - signals.answered_at), 3)
        return Verdict(quiet and after <= silent_after_answer_s, "after-answer", after)
    if signals.queued_at is not None:
        return Verdict(False, "waiting")
    return Verdict(quiet, "in-ivr")
