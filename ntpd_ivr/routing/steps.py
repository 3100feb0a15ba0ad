"""Agency trunk attempts, put on record from the AMI UserEvent the dialplan sends after each
Dial() in [ntpd-agency-dial] (dialplan/ntpd-agency.conf).

A UserEvent costs the caller nothing (no round trip to the controller between the primary
and the backup trunk) and arrives with Asterisk's own timestamp.
"""

from __future__ import annotations

import logging

from ntpd_ivr.ami.events import AgencyTrunkAttempt, AmiEvent
from ntpd_ivr.calls.values import CallStep
from ntpd_ivr.clock import event_time

log = logging.getLogger(__name__)

KIND_TRUNK_ATTEMPT = "agency.attempt"


def trunk_attempt_step(event: AmiEvent) -> CallStep | None:
    """The CallStep for an agency trunk attempt event; None for any other event."""
    if not isinstance(event, AgencyTrunkAttempt):
        return None
    try:
        return CallStep(event.uniqueid, event_time(event),
                        KIND_TRUNK_ATTEMPT,
                        {"agency": event.agency, "attempt": event.attempt,
                         "trunk": event.trunk, "result": event.result,
                         "hangup_cause": event.cause})
    except ValueError as exc:
        log.warning("unreadable agency trunk attempt event: %s", exc,
                    extra={"call_id": event.uniqueid})
        return None
