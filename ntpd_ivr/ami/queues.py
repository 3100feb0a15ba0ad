"""app_queue's members as Asterisk has them now, read with QueueStatus (Asterisk 22)."""

from __future__ import annotations

from ntpd_ivr.ami.events import AmiActions, QueueMember


async def queue_members(ami: AmiActions, interface: str | None = None) -> list[QueueMember]:
    """Every queue member (or one interface's memberships) as Asterisk has them now."""
    action = {"Action": "QueueStatus"}
    if interface is not None:
        action["Member"] = interface
    result = await ami.action(action)
    return [e for e in result.events if isinstance(e, QueueMember)]
