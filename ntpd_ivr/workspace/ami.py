"""The AMI side of presence: the actions that log a call-taker in and out of a queue and
pause them (Asterisk 22 app_queue; they need the AMI user's `agent` write permission),
and reading presence back with QueueStatus.
"""

from __future__ import annotations

from ntpd_ivr.ami.events import AmiActions, QueueMember
from ntpd_ivr.ami.queues import queue_members as members_of
from ntpd_ivr.workspace.model import Presence, PresenceChange, interface_of


def presence_actions(change: PresenceChange, endpoint: str,
                     current: Presence) -> list[dict[str, str]]:
    """The AMI actions for one change; the service has checked that it makes sense."""
    interface = interface_of(endpoint)
    if change.action == "login":
        # StateInterface: app_queue then skips the member while the phone is unreachable,
        # as it does for the static members rendered by ntpd_ivr/takers.
        return [{"Action": "QueueAdd", "Queue": str(change.queue), "Interface": interface,
                 "MemberName": endpoint, "StateInterface": interface, "Penalty": "0",
                 "Paused": "false"}]
    if change.action == "logout":
        return [{"Action": "QueueRemove", "Queue": m.queue, "Interface": interface}
                for m in current.memberships if m.dynamic]
    # No Queue header: the pause applies to every queue the member is in.
    paused = change.action == "pause"
    action = {"Action": "QueuePause", "Interface": interface,
              "Paused": "true" if paused else "false"}
    if paused and change.reason:
        action["Reason"] = change.reason
    return [action]


async def queue_members(ami: AmiActions, endpoint: str | None = None) -> list[QueueMember]:
    """Every queue member (or one endpoint's memberships) as Asterisk has them now."""
    return await members_of(ami, None if endpoint is None else interface_of(endpoint))
