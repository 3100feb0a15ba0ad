"""The AMI actions of a connect dispatch (Asterisk 22 manager.c): an async Originate of the
agency leg into [ntpd-dispatch-agency], and the Redirects into the conference. They need
the AMI user's `originate` and `call` write permissions (asterisk-conf/manager.conf)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.originator import originate_leg
from ntpd_ivr.dispatch.model import LEG_PREFIX

CALLER_ID = '"NTPD 112" <112>'  # what the agency's phone shows


def action_id(dispatch_id: int, attempt: int) -> str:
    """Names the Originate and comes back on its OriginateResponse."""
    return f"{LEG_PREFIX}{dispatch_id}-{attempt}"


def originate(dispatch_id: int, attempt: int, trunk: str, ring_seconds: int,
              variables: Mapping[str, str]) -> dict[str, str]:
    return originate_leg(action_id(dispatch_id, attempt), f"PJSIP/{trunk}",
                         dp.CONTEXT_DISPATCH_AGENCY, ring_seconds, CALLER_ID, variables)


def leg_variables(dispatch_id: int, caller: str, prompts_dir: str, prompts: Sequence[str],
                  key_seconds: int, wait_seconds: int) -> dict[str, str]:
    return {dp.VAR_DISPATCH: str(dispatch_id), dp.VAR_DISPATCH_CALLER: caller,
            dp.VAR_DISPATCH_ANNOUNCE: "&".join(f"{prompts_dir}/{p}" for p in prompts),
            dp.VAR_DISPATCH_KEY_SECONDS: str(key_seconds),
            dp.VAR_DISPATCH_WAIT: str(wait_seconds)}


def agency_bridge(dispatch_id: int, conference_dispatch: int) -> str:
    """Where the agency leg joins: its own dispatch's conference (`bridge`), or the one
    the caller is in already with an earlier dispatch's agency (`bridge-<that id>`)."""
    if conference_dispatch == dispatch_id:
        return dp.EXTEN_DISPATCH_BRIDGE
    return f"{dp.EXTEN_DISPATCH_BRIDGE}-{conference_dispatch}"


def redirect_agency(channel: str, exten: str) -> dict[str, str]:
    """The agency leg, waiting after key 1, to `bridge`, `caller-gone` or `closed`."""
    return {"Action": "Redirect", "Channel": channel, "Context": dp.CONTEXT_DISPATCH_AGENCY,
            "Exten": exten, "Priority": "1"}


def caller_back_to_queue(channel: str) -> dict[str, str]:
    """A caller left alone in a conference, back to its queue at its priority (its
    NTPD_QUEUE and QUEUE_PRIO are still set; the label `queue` in [ntpd-emergency])."""
    return {"Action": "Redirect", "Channel": channel, "Context": dp.CONTEXT_EMERGENCY,
            "Exten": "s", "Priority": dp.LABEL_EMERGENCY_QUEUE}


def conference_members(conference: str) -> dict[str, str]:
    return {"Action": "ConfbridgeList", "Conference": conference}
