"""Agency trunk attempts, put on record from the AMI UserEvent the dialplan sends after each
Dial() in [ntpd-agency-dial] (dialplan/ntpd-agency.conf).

A UserEvent costs the caller nothing (no round trip to the controller between the primary
and the backup trunk) and arrives with Asterisk's own timestamp.
"""

from __future__ import annotations

import logging

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.events import AmiEvent, OtherEvent
from ntpd_ivr.calls.records import CallStep

log = logging.getLogger(__name__)

KIND_TRUNK_ATTEMPT = "agency.attempt"
_DETAIL = {"agency": "agency", "attempt": "attempt", "trunk": "trunk", "result": "result",
           "cause": "hangup_cause"}


def trunk_attempt_step(event: AmiEvent) -> CallStep | None:
    """The CallStep for an NTPDTrunkAttempt UserEvent; None for any other event."""
    if not isinstance(event, OtherEvent) or event.name.lower() != "userevent":
        return None
    headers = {key.lower(): value for key, value in event.fields}
    if headers.get("userevent", "").lower() != dp.USEREVENT_TRUNK_ATTEMPT.lower():
        return None
    detail = {name: headers.get(header, "") for header, name in _DETAIL.items()}
    try:
        return CallStep(headers.get("uniqueid", ""), event.timestamp or event.received_at,
                        KIND_TRUNK_ATTEMPT, detail)
    except ValueError as exc:
        log.warning("unreadable %s event: %s", dp.USEREVENT_TRUNK_ATTEMPT, exc)
        return None
