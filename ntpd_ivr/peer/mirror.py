"""Queue presence on both nodes: the call-taker's desk changes it on both.

Both nodes have the same queues and members (docs/ha.md); a call-taker who logs in to a
queue, pauses (or is paused for wrap-up) at the desk of one controller must be so on both
nodes, or the other node would ring them. The desk's AMI actions go through
`MirroredActions`: every action to the local node as before (its answer is the answer);
the presence changes (QueueAdd, QueueRemove, QueuePause) then also to the other node,
best effort: a down or refusing node is logged, never an error for the desk (the node
that is down takes no calls; a refused QueueAdd there means the member is there already).
Reads (QueueStatus) stay local: presence is read back from the desk's node.
"""

from __future__ import annotations

import logging

from ntpd_ivr.ami.events import ActionResult, AmiActions
from ntpd_ivr.errors import AmiError

log = logging.getLogger(__name__)

MIRRORED = frozenset({"QueueAdd", "QueueRemove", "QueuePause"})


class MirroredActions:
    def __init__(self, local: AmiActions, peer: AmiActions, peer_name: str) -> None:
        self.local = local
        self.peer = peer
        self.peer_name = peer_name

    async def action(self, action: dict[str, str],
                     timeout: float | None = None,  # noqa: ASYNC109
                     ) -> ActionResult:
        result = await self.local.action(action, timeout)
        if action.get("Action") in MIRRORED:
            try:
                await self.peer.action(dict(action), timeout)
            except AmiError as exc:
                log.warning("presence on the other node %s not changed (%s %s): %s",
                            self.peer_name, action.get("Action"), action.get("Interface"),
                            exc)
        return result
