"""Pure: the nodes' state as the wall shows it, and the two nodes' walls as one.

No I/O: the feed (ntpd_ivr/peer/feed.py) hands in what the AMI clients say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A call-taker's state on the node whose call it is wins over "available" on the other.
_BUSY = frozenset({"ringing", "on-call"})


@dataclass(frozen=True)
class NodeWatch:
    """One node as its AMI client sees it: logged in or not, since when, last heard."""

    name: str
    role: str  # "local": this controller's node; "peer": the other one
    connected: bool = False
    heard_at: float | None = None  # last event or reply from that node's Asterisk
    down_since: float | None = None  # first seen not logged in (None while logged in)
    last_error: str | None = None

    def observed(self, connected: bool, heard_at: float | None, last_error: str | None,
                 now: float) -> NodeWatch:
        if connected:
            down_since = None
        else:
            down_since = self.down_since if self.down_since is not None else now
        return NodeWatch(self.name, self.role, connected, heard_at, down_since,
                         None if connected else last_error)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "connected": self.connected,
                "heard_at": self.heard_at, "down_since": self.down_since,
                "last_error": self.last_error}


def down_nodes(nodes: Sequence[NodeWatch]) -> list[str]:
    """The nodes the wall's banner names as down."""
    return [node.name for node in nodes if not node.connected]


def _tagged(calls: Sequence[Mapping[str, Any]], node: str) -> list[dict[str, Any]]:
    return [{**call, "node": node} for call in calls]


def merge_walls(local: Mapping[str, Any], peer: Mapping[str, Any], local_name: str,
                peer_name: str) -> dict[str, Any]:
    """The calls of both nodes' WallState.to_json(), each tagged with its node; the
    call-takers are the local node's (both nodes have the same members), except that one
    ringing or on a call on the peer shows as such."""
    queues: dict[str, list[dict[str, Any]]] = {}
    for name, calls in (*((q, _tagged(c, local_name)) for q, c in local["queues"].items()),
                        *((q, _tagged(c, peer_name)) for q, c in peer["queues"].items())):
        queues.setdefault(name, []).extend(calls)
    for calls in queues.values():
        calls.sort(key=lambda call: call.get("since") or 0.0)
    peer_takers = {taker["endpoint"]: taker for taker in peer["takers"]}
    takers = []
    for taker in local["takers"]:
        other = peer_takers.get(taker["endpoint"])
        if other is not None and other["state"] in _BUSY and taker["state"] not in _BUSY:
            taker = other
        takers.append(taker)
    return {"ivr": _tagged(local["ivr"], local_name) + _tagged(peer["ivr"], peer_name),
            "queues": dict(sorted(queues.items())),
            "talking": _tagged(local["talking"], local_name) + _tagged(peer["talking"],
                                                                       peer_name),
            "takers": takers}
