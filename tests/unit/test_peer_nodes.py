"""One center on two nodes (ntpd_ivr/peer/): the nodes' state, both walls as one, the
`[ami_peer]` settings, and the wall's snapshot with a peer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr.ami.events import Newchannel
from ntpd_ivr.errors import AmiError, ConfigError
from ntpd_ivr.peer.feed import PeerFeed
from ntpd_ivr.peer.mirror import MirroredActions
from ntpd_ivr.peer.nodes import NodeWatch, down_nodes, merge_walls
from ntpd_ivr.settings import AmiPeerSettings, AmiSettings, WallSettings, load_settings
from ntpd_ivr.wall.service import WallService
from ntpd_ivr.web.hub import LiveHub

BASE = '[ami]\nsecret = "s"\n[database]\nurl = "postgresql+asyncpg://u:p@127.0.0.1/d"\n'
PEER = '[ami_peer]\nhost = "127.0.0.11"\nsecret = "t"\nname = "node-b"\nlocal_name = "node-a"\n'


def call(uniqueid: str, since: float, state: str = "queue", **extra: Any) -> dict[str, Any]:
    return {"uniqueid": uniqueid, "caller_number": "0811", "state": state, "since": since,
            "arrived_at": since, "queue": "takers-palembang", "taker": "", **extra}


def taker(endpoint: str, state: str) -> dict[str, Any]:
    return {"endpoint": endpoint, "state": state, "since": 1.0, "reason": "",
            "queues": ["takers-palembang"], "call": ""}


EMPTY: dict[str, Any] = {"ivr": [], "queues": {}, "talking": [], "takers": []}


def test_a_node_is_down_from_the_first_look_until_it_logs_in_again() -> None:
    node = NodeWatch("node-b", "peer")
    down = node.observed(False, None, "cannot connect", now=10.0)
    assert (down.connected, down.down_since, down.last_error) == (False, 10.0, "cannot connect")
    still = down.observed(False, None, "connection lost", now=12.0)
    assert still.down_since == 10.0  # since when, not since the last look
    up = still.observed(True, 13.0, "connection lost", now=13.0)
    assert (up.connected, up.down_since, up.last_error, up.heard_at) == (True, None, None, 13.0)
    assert down_nodes([up, NodeWatch("node-a", "local", connected=True), down]) == ["node-b"]
    assert up.to_json() == {"name": "node-b", "role": "peer", "connected": True,
                            "heard_at": 13.0, "down_since": None, "last_error": None}


def test_both_nodes_calls_are_on_one_wall_each_with_its_node() -> None:
    local = {**EMPTY, "ivr": [call("a-1", 5.0, "ivr")],
             "queues": {"takers-palembang": [call("a-2", 7.0)]},
             "takers": [taker("andi", "available"), taker("budi", "on-call"),
                        taker("citra", "paused")]}
    peer = {"ivr": [call("b-1", 4.0, "ivr")],
            "queues": {"takers-palembang": [call("b-2", 6.0)], "takers-muba": [call("b-3", 1.0)]},
            "talking": [call("b-4", 2.0, "talking", taker="andi")],
            "takers": [taker("andi", "on-call"), taker("budi", "available"),
                       taker("citra", "available")]}
    wall = merge_walls(local, peer, "node-a", "node-b")
    assert [(c["uniqueid"], c["node"]) for c in wall["ivr"]] == [("a-1", "node-a"),
                                                                 ("b-1", "node-b")]
    assert list(wall["queues"]) == ["takers-muba", "takers-palembang"]
    # One queue's waiting callers from both nodes, longest waiting first.
    assert [c["uniqueid"] for c in wall["queues"]["takers-palembang"]] == ["b-2", "a-2"]
    assert [(c["uniqueid"], c["node"]) for c in wall["talking"]] == [("b-4", "node-b")]
    # andi is on a call on node-b: not available; budi's call on node-a stays; citra's
    # pause (local) is not undone by node-b's "available".
    assert [(t["endpoint"], t["state"]) for t in wall["takers"]] == [
        ("andi", "on-call"), ("budi", "on-call"), ("citra", "paused")]
    assert merge_walls(local, EMPTY, "node-a", "node-b")["takers"] == local["takers"]


def test_ami_peer_settings(tmp_path: Path) -> None:
    path = tmp_path / "ntpd-ivr.toml"
    path.write_text(BASE, encoding="utf-8")
    assert load_settings(path, environ={}).ami_peer.host == ""  # one node: no peer
    path.write_text(BASE + PEER, encoding="utf-8")
    peer = load_settings(path, environ={}).ami_peer
    ami = peer.ami(AmiSettings(secret="s", reconnect_delay_seconds=0.5))
    assert (ami.host, ami.port, ami.secret, ami.reconnect_delay_seconds) == (
        "127.0.0.11", 5038, "t", 0.5)


@pytest.mark.parametrize(("peer", "message"), [
    ('[ami_peer]\nhost = "node-b"\nsecret = "t"\n', "ami_peer.host must be an IP address"),
    ('[ami_peer]\nhost = "127.0.0.11"\n', "ami_peer.secret is empty"),
    ('[ami_peer]\nhost = "127.0.0.11"\nsecret = "t"\nport = 0\n', "ami_peer.port must be"),
    ('[ami_peer]\nhost = "127.0.0.11"\nsecret = "t"\nname = "a"\nlocal_name = "a"\n',
     "two different node names"),
])
def test_bad_ami_peer_settings_name_file_and_key(tmp_path: Path, peer: str,
                                                 message: str) -> None:
    path = tmp_path / "ntpd-ivr.toml"
    path.write_text(BASE + peer, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert message in str(caught.value) and str(path) in str(caught.value)


class Peer:
    def __init__(self) -> None:
        self.heard: list[float | None] = []

    def nodes(self, local_heard_at: float | None) -> list[dict[str, Any]]:
        self.heard.append(local_heard_at)
        return [NodeWatch("node-a", "local", connected=True).to_json(),
                NodeWatch("node-b", "peer", down_since=3.0).to_json()]

    def merged(self, local_wall: dict[str, Any]) -> dict[str, Any]:
        return merge_walls(local_wall, {**EMPTY, "ivr": [call("b-1", 4.0, "ivr")]},
                           "node-a", "node-b")


def wall(**extra: Any) -> WallService:
    return WallService(object(), object(), LiveHub({"wall": "supervisor"}),  # type: ignore[arg-type]
                       WallSettings(), known_takers=list, ami_connected=lambda: True, **extra)


def test_the_wall_snapshot_has_the_nodes_and_the_other_nodes_calls() -> None:
    single = wall().snapshot()
    assert single["nodes"] == [] and single["ivr"] == []
    service = wall()
    service.heard_at = 9.0
    peer = Peer()
    service.peer = peer
    snapshot = service.snapshot()
    assert [(n["name"], n["connected"]) for n in snapshot["nodes"]] == [("node-a", True),
                                                                         ("node-b", False)]
    assert [(c["uniqueid"], c["node"]) for c in snapshot["ivr"]] == [("b-1", "node-b")]
    assert peer.heard == [9.0]


def test_the_other_nodes_wall_hands_its_changes_on_and_never_publishes() -> None:
    changes: list[str] = []
    service = wall(on_change=lambda: changes.append("changed"))
    service.changed()
    service._flush_now()
    assert changes == ["changed", "changed"] and service._push is None


class LocalAmi:
    def __init__(self) -> None:
        self.settings = AmiSettings(secret="s")
        self.connected = True
        self.last_error: str | None = None


async def test_the_feed_hands_the_other_nodes_events_to_the_screens_only() -> None:
    screens: list[str] = []
    pushes: list[str] = []
    settings = AmiPeerSettings(host="127.0.0.11", secret="t", name="node-b",
                               local_name="node-a")
    feed = PeerFeed(settings, LocalAmi(),  # type: ignore[arg-type]
                    make_wall=lambda ami, changed: wall(on_change=changed),
                    on_screen_event=lambda event: screens.append(event.name),
                    changed=lambda: pushes.append("push"))
    await feed._on_event(Newchannel(
        name="Newchannel", received_at=5.0, uniqueid="node-b-1.1", linkedid="node-b-1.1",
        channel="PJSIP/operator-a-1", caller_number="0811", context="from-operator",
        exten="112"))
    assert screens == ["Newchannel"] and pushes == ["push"]
    assert [c["uniqueid"] for c in feed.merged(EMPTY)["ivr"]] == ["node-b-1.1"]
    assert feed._observe(1.0)  # the local node: up
    assert not feed._observe(1.0)  # the other one down from the start: nothing moved
    feed.ami._logged_in.set()
    assert feed._observe(1.0) and feed.peer.connected
    heard = feed.peer.heard_at
    assert heard is not None  # logged in: heard now
    feed.ami._logged_in.clear()
    feed._observe(1.0)
    assert feed.peer.heard_at == heard  # down: last heard when it was still up
    feed.ami._logged_in.set()
    feed._observe(1.0)
    feed.ami._logged_in.clear()
    assert feed._observe(1.0) and not feed.peer.connected
    # Its calls are not known any more: not shown as live.
    assert feed.merged(EMPTY)["ivr"] == []
    assert [n["connected"] for n in feed.nodes(2.0)] == [True, False]


class Node:
    def __init__(self, fails: bool = False) -> None:
        self.sent: list[str] = []
        self.fails = fails

    async def action(self, action: dict[str, str],
                     timeout: float | None = None,  # noqa: ASYNC109
                     ) -> Any:
        self.sent.append(action["Action"])
        if self.fails:
            raise AmiError("AMI QueuePause not sent: not connected to Asterisk")
        return action["Action"]


async def test_presence_changes_go_to_both_nodes_reads_and_the_rest_stay_local() -> None:
    local, peer = Node(), Node()
    ami = MirroredActions(local, peer, "node-b")
    for name in ("QueueAdd", "QueuePause", "QueueRemove", "QueueStatus", "Originate"):
        assert await ami.action({"Action": name, "Interface": "PJSIP/citra"}) == name
    assert local.sent == ["QueueAdd", "QueuePause", "QueueRemove", "QueueStatus", "Originate"]
    assert peer.sent == ["QueueAdd", "QueuePause", "QueueRemove"]
    # The other node down: the desk's change is made all the same (its node is up).
    down = MirroredActions(local, Node(fails=True), "node-b")
    assert await down.action({"Action": "QueuePause", "Interface": "PJSIP/citra"}) == "QueuePause"
    # The desk's own node refusing is the desk's error, and the other node is not asked.
    other = Node()
    with pytest.raises(AmiError):
        await MirroredActions(Node(fails=True), other, "node-b").action(
            {"Action": "QueuePause", "Interface": "PJSIP/citra"})
    assert other.sent == []


async def test_the_wall_pushes_a_change_after_a_quiet_spell_at_once_and_bursts_at_most_5_a_second(
        ) -> None:
    """Throttled, not delayed: the first change goes out as soon as the loop is free (not
    PUSH_DELAY_SECONDS later, as before issue 26); changes during a burst wait for the
    delay after the last push and go out as one."""
    from ntpd_ivr.wall.service import PUSH_DELAY_SECONDS

    service = wall()
    sent: list[float] = []

    class Watcher:
        def __init__(self) -> None:
            self.topics = {"wall"}

    service.hub.clients.add(Watcher())  # type: ignore[arg-type]
    service.hub.publish_changes = (  # type: ignore[method-assign]
        lambda *a, **k: sent.append(asyncio.get_running_loop().time()) or 1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    service.changed()
    await asyncio.sleep(0.02)
    assert len(sent) == 1 and sent[0] - start < PUSH_DELAY_SECONDS / 2
    for _ in range(10):  # a burst right after it: one more push, the delay after the first
        service.changed()
        await asyncio.sleep(0.01)
    await asyncio.sleep(PUSH_DELAY_SECONDS + 0.05)
    assert len(sent) == 2 and sent[1] - sent[0] >= PUSH_DELAY_SECONDS - 0.01
