"""The one reading of Asterisk's OriginateResponse, and the domains that follow it."""

from __future__ import annotations

import pytest

from ntpd_ivr import originate
from ntpd_ivr.ami.events import OriginateResponse
from ntpd_ivr.campaigns import model as campaigns
from ntpd_ivr.dispatch.model import originate_outcome as dispatch_outcome


@pytest.mark.parametrize(("response", "reason", "cause", "expected"), [
    ("Success", 4, None, "answered"),
    ("Failure", 3, None, "no-answer"),      # AST_CONTROL_RINGING: rang out the Timeout
    ("Failure", 1, None, "unavailable"),    # AST_CONTROL_HANGUP: hung up before answering
    ("Failure", 1, 16, "unavailable"),      # a cause that says nothing more
    ("Failure", 1, 19, "no-answer"),        # the cause says more than the reason
    ("Failure", 1, 17, "busy"),
    ("Failure", 5, None, "busy"),
    ("Failure", 8, None, "unavailable"),
    ("Failure", 0, None, "unavailable"),
    ("Failure", 4, None, "failed"),         # answered, but its dialplan could not start
])
def test_the_reading(response: str, reason: int, cause: int | None, expected: str) -> None:
    assert originate.outcome(response, reason, cause) == expected


@pytest.mark.parametrize("reason", [0, 1])
def test_reasons_zero_and_one_wait_for_the_cause(reason: int) -> None:
    assert originate.needs_cause("Failure", reason)
    assert campaigns.needs_cause("Failure", reason)
    assert not originate.needs_cause("Success", reason)


def test_reason_one_is_a_refusal_in_every_domain_not_a_ring_out() -> None:
    """Asterisk's Reason 1 is AST_CONTROL_HANGUP (the far end hung up before answering),
    which campaigns used to count as no-answer and dispatch as unavailable."""
    response = OriginateResponse(name="OriginateResponse", received_at=0.0, action_id="a",
                                 response="Failure", channel="PJSIP/x", reason=1)
    assert dispatch_outcome(response) == "unavailable"
    assert campaigns.originate_outcome("Failure", 1) == campaigns.FAILED
    assert campaigns.originate_outcome("Failure", 1, 16) == campaigns.FAILED
    assert campaigns.originate_outcome("Failure", 3) == campaigns.NO_ANSWER


def test_an_answer_whose_dialplan_could_not_start_is_a_failure_in_every_domain() -> None:
    response = OriginateResponse(name="OriginateResponse", received_at=0.0, action_id="a",
                                 response="Failure", channel="PJSIP/x", reason=4)
    assert dispatch_outcome(response) == "failed"
    assert campaigns.originate_outcome("Failure", 4) == campaigns.FAILED
