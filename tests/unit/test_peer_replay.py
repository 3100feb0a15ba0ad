"""Queue presence replayed to a node that comes back (ntpd_ivr/peer/replay.py): the
difference between the node that stayed up and the returning one as AMI actions, and the
replay against fake nodes we own (tests/workspace_fakes.py)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from ntpd_ivr.ami.events import ActionResult, QueueMember
from ntpd_ivr.errors import AmiError
from ntpd_ivr.peer.feed import PeerFeed
from ntpd_ivr.peer.replay import (
    ADDITIVE,
    FULL,
    Node,
    PresenceReplay,
    Step,
    replay_mode,
    replay_steps,
)
from ntpd_ivr.settings import AmiPeerSettings, WallSettings
from ntpd_ivr.wall.service import WallService
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import LiveHub
from ntpd_ivr.workspace.model import TOPICS
from ntpd_ivr.workspace.service import WorkspaceService
from tests.unit.test_peer_nodes import LocalAmi
from tests.workspace_fakes import FakeMember, FakeQueues, FakeStore

MUBA, DEFAULT = "takers-muba", "takers-default"
CITRA, ANDI = "PJSIP/citra", "PJSIP/andi"


def member(queue: str, interface: str, *, paused: bool = False, reason: str = "",
           dynamic: bool = True) -> QueueMember:
    return QueueMember(name="QueueMember", received_at=1.0, queue=queue,
                       member_name=interface.partition("/")[2], interface=interface,
                       status=1, paused=paused, in_call=False, paused_reason=reason,
                       membership="dynamic" if dynamic else "static",
                       state_interface=interface)


def sent(steps: list[Step]) -> list[dict[str, str]]:
    return [step.headers() for step in steps]


def test_the_same_presence_on_both_nodes_sends_nothing() -> None:
    both = [member(MUBA, CITRA, paused=True, reason="break"), member(DEFAULT, ANDI,
                                                                    dynamic=False)]
    assert replay_steps(both, both) == []


def test_a_login_made_meanwhile_is_added_paused_as_it_is_with_its_reason() -> None:
    steps = replay_steps([member(MUBA, CITRA, paused=True, reason="wrap-up")], [])
    assert sent(steps) == [
        {"Action": "QueueAdd", "Queue": MUBA, "Interface": CITRA, "MemberName": "citra",
         "StateInterface": CITRA, "Penalty": "0", "Paused": "true"},
        {"Action": "QueuePause", "Queue": MUBA, "Interface": CITRA, "Paused": "true",
         "Reason": "wrap-up"}]
    assert [(s.member, s.what) for s in steps] == [("citra", "logged in"),
                                                   ("citra", "paused (wrap-up)")]
    # Available: one QueueAdd, not paused.
    assert sent(replay_steps([member(MUBA, CITRA)], [])) == [
        {"Action": "QueueAdd", "Queue": MUBA, "Interface": CITRA, "MemberName": "citra",
         "StateInterface": CITRA, "Penalty": "0", "Paused": "false"}]


def test_a_logout_made_meanwhile_is_removed_and_static_members_are_left_alone() -> None:
    steps = replay_steps([], [member(MUBA, CITRA), member(DEFAULT, ANDI, dynamic=False)])
    assert sent(steps) == [{"Action": "QueueRemove", "Queue": MUBA, "Interface": CITRA}]
    assert steps[0].what == "logged out"
    # A static member the other node has and this one not: the configuration differs,
    # which is no desk's doing: nothing.
    assert replay_steps([member(DEFAULT, ANDI, dynamic=False)], []) == []


@pytest.mark.parametrize(("stayed", "returned", "expected"), [
    ((True, "break"), (False, ""),
     {"Paused": "true", "Reason": "break"}),
    ((False, ""), (True, "wrap-up"),  # the wrap-up ended meanwhile
     {"Paused": "false"}),
    ((True, "break"), (True, "wrap-up"),  # the reason changed
     {"Paused": "true", "Reason": "break"}),
    ((True, ""), (False, ""),
     {"Paused": "true"}),
])
def test_a_pause_its_end_or_its_reason_is_set_in_that_queue(
        stayed: tuple[bool, str], returned: tuple[bool, str],
        expected: dict[str, str]) -> None:
    steps = replay_steps([member(DEFAULT, ANDI, paused=stayed[0], reason=stayed[1],
                                 dynamic=False)],
                         [member(DEFAULT, ANDI, paused=returned[0], reason=returned[1],
                                 dynamic=False)])
    assert sent(steps) == [{"Action": "QueuePause", "Queue": DEFAULT, "Interface": ANDI,
                            **expected}]


def test_logins_come_first_and_logouts_last() -> None:
    steps = replay_steps([member(MUBA, CITRA), member(DEFAULT, ANDI, paused=True,
                                                      reason="break", dynamic=False)],
                         [member(DEFAULT, ANDI, dynamic=False), member(DEFAULT, CITRA)])
    assert [s.headers()["Action"] for s in steps] == ["QueueAdd", "QueuePause", "QueueRemove"]


def test_only_a_node_in_sight_all_the_while_the_other_was_away_is_the_truth() -> None:
    assert replay_mode(10.0, True, 20.0) == FULL
    assert replay_mode(25.0, True, 20.0) is None  # it came back after the other was lost
    assert replay_mode(10.0, False, 20.0) is None  # it is down now
    assert replay_mode(None, False, None) is None
    assert replay_mode(10.0, True, None) == ADDITIVE  # the first login: nothing was lost


def test_an_additive_replay_adds_logins_and_pauses_and_takes_nothing_away() -> None:
    desired = [member(MUBA, CITRA, paused=True, reason="break"),
               member(DEFAULT, ANDI, dynamic=False),
               member(DEFAULT, "PJSIP/budi", paused=True, reason="wrap-up", dynamic=False)]
    actual = [member(DEFAULT, ANDI, paused=True, reason="meeting", dynamic=False),
              member(DEFAULT, "PJSIP/budi", dynamic=False), member(DEFAULT, CITRA)]
    steps = replay_steps(desired, actual, additive=True)
    assert [(s.member, s.what, s.queue) for s in steps] == [
        ("citra", "logged in", MUBA), ("budi", "paused (wrap-up)", DEFAULT),
        ("citra", "paused (break)", MUBA)]
    # The full replay also unpauses andi and logs citra out of takers-default.
    assert {(s.member, s.what) for s in replay_steps(desired, actual)} - {
        (s.member, s.what) for s in steps} == {("andi", "unpaused"), ("citra", "logged out")}


class FakeNode(FakeQueues):
    """A node's app_queue behind one AMI session, with the session's login times."""

    def __init__(self, *, logged_in_at: float | None = 1.0, lost_at: float | None = None,
                 connected: bool = True) -> None:
        super().__init__()
        self.logged_in_at = logged_in_at
        self.lost_at = lost_at
        self.connected = connected
        self.hang = False

    async def action(self, action: dict[str, str],
                     timeout: float | None = None) -> ActionResult:  # noqa: ASYNC109
        if self.hang:
            await asyncio.sleep(3600)
        return await super().action(action, timeout)


def nodes() -> tuple[FakeNode, FakeNode]:
    """node-b stayed up (logged in at 1.0); node-a's session was lost at 5.0 and is back."""
    stayed = FakeNode()
    stayed.static(DEFAULT, ANDI)
    stayed.members[(DEFAULT, ANDI)].paused, stayed.members[(DEFAULT, ANDI)].reason = (
        True, "wrap-up")
    stayed.members[(MUBA, CITRA)] = FakeMember(paused=True, reason="break")
    back = FakeNode(logged_in_at=9.0, lost_at=5.0)
    back.static(DEFAULT, ANDI)
    back.members[(DEFAULT, CITRA)] = FakeMember()  # logged out of it meanwhile
    return stayed, back


async def test_the_returning_node_gets_the_presence_of_the_one_that_stayed_up(
        caplog: pytest.LogCaptureFixture) -> None:
    stayed, back = nodes()
    replay = PresenceReplay(Node("node-a", back), Node("node-b", stayed))
    with caplog.at_level(logging.INFO, logger="ntpd_ivr.peer.replay"):
        applied = await replay.to_local()
    assert back.members == stayed.members
    assert len(applied) == 4 and replay.replays == 1
    # The returning node is read before the one that stayed up (see _apply).
    assert [a["Action"] for a in back.sent][:1] == ["QueueStatus"]
    assert "presence replayed to node-a from node-b: citra logged in in takers-muba" in (
        caplog.text)
    assert "citra paused (break) in takers-muba" in caplog.text
    assert "andi paused (wrap-up) in takers-default" in caplog.text
    assert "citra logged out in takers-default" in caplog.text
    # Again (the other controller, or the next login): nothing left to do.
    assert await replay.to_local() == []


async def test_two_controllers_replaying_at_once_both_finish_and_agree() -> None:
    stayed, back = nodes()
    # Each controller has its own sessions to the same two nodes: the same fakes here.
    mine = PresenceReplay(Node("node-a", back), Node("node-b", stayed))
    theirs = PresenceReplay(Node("node-b", stayed), Node("node-a", back))
    await asyncio.gather(mine.to_local(), theirs.to_peer())
    assert back.members == stayed.members
    assert (mine.replays, theirs.replays) == (1, 1)


async def test_a_refused_action_is_logged_and_the_rest_is_applied(
        caplog: pytest.LogCaptureFixture) -> None:
    stayed, back = nodes()
    real_action = back.action

    async def add_refused(action: dict[str, str],
                          timeout: float | None = None) -> ActionResult:  # noqa: ASYNC109
        if action["Action"] == "QueueAdd":  # the other controller was quicker
            back.members[(action["Queue"], action["Interface"])] = FakeMember()
        return await real_action(action, timeout)

    back.action = add_refused  # type: ignore[method-assign]
    applied = await PresenceReplay(Node("node-a", back), Node("node-b", stayed)).to_local()
    assert "citra logged in in takers-muba refused" in caplog.text
    assert [s.what for s in applied] == ["paused (wrap-up)", "paused (break)", "logged out"]
    assert back.members == stayed.members


async def test_nothing_is_replayed_when_no_node_stayed_in_sight() -> None:
    stayed, back = nodes()
    stayed.logged_in_at = 7.0  # it logged in again after node-a was lost: restarted too?
    replay = PresenceReplay(Node("node-a", back), Node("node-b", stayed))
    assert await replay.to_local() == []
    assert back.sent == [] and stayed.sent == []


async def test_a_first_login_gets_what_the_other_node_has_more_only() -> None:
    stayed, back = nodes()
    back.lost_at = None  # this controller just started (its machine rebooted?)
    applied = await PresenceReplay(Node("node-a", back), Node("node-b", stayed)).to_local()
    assert [(s.member, s.what) for s in applied] == [("citra", "logged in"),
                                                     ("andi", "paused (wrap-up)"),
                                                     ("citra", "paused (break)")]
    assert (DEFAULT, CITRA) in back.members  # not logged out: not known to be older


async def test_a_failure_or_a_silent_node_is_logged_within_the_bound_never_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    stayed, back = nodes()
    replay = PresenceReplay(Node("node-a", back), Node("node-b", stayed), within_s=0.2,
                            retry_s=0.05)
    stayed.fail = "AMI QueueStatus: no answer within 2s"
    back.connected = False  # away again: not read again
    assert await replay.to_local() == []
    assert "not done (AMI QueueStatus: no answer within 2s)" in caplog.text
    back.connected = True  # both up: read again until the bound
    started = time.monotonic()
    async with asyncio.timeout(30):  # generous: the log line below says the bound ended it
        assert await replay.to_local() == []
    assert time.monotonic() - started >= 0.2  # timers never fire early
    assert "not done within 0.2 s" in caplog.text
    assert sum(a["Action"] == "QueueStatus" for a in stayed.sent) > 2
    stayed.fail = None
    back.hang = True  # a silent node (an hour): the bound again
    caplog.clear()
    async with asyncio.timeout(30):
        assert await replay.to_local() == []
    assert "not done within 0.2 s" in caplog.text
    assert replay.replays == 0
    back.hang = False
    assert len(await replay.to_local()) == 4  # tried again at the next login: done


async def test_a_node_still_loading_its_queues_is_read_again_within_the_bound(
        caplog: pytest.LogCaptureFixture) -> None:
    stayed, back = nodes()
    configured = dict(back.members)
    back.members.clear()  # its AMI answers, app_queue is not loaded yet
    replay = PresenceReplay(Node("node-a", back), Node("node-b", stayed), retry_s=0.05)

    async def loaded() -> None:  # once the replay has found it without its members
        for _ in range(1000):
            if "has none of its configured queue members yet" in caplog.text:
                break
            await asyncio.sleep(0.01)
        back.members.update(configured)

    with caplog.at_level(logging.INFO, logger="ntpd_ivr.peer.replay"):
        applied, _ = await asyncio.gather(replay.to_local(), loaded())
    assert "node-a has none of its configured queue members yet" in caplog.text
    assert len(applied) == 4 and back.members == stayed.members


async def test_the_desk_reads_presence_back_after_the_replay() -> None:
    """The local node's login: replay first, then the workspace's resync reads it."""
    stayed, back = nodes()
    hub = LiveHub(TOPICS)
    service = WorkspaceService(back, FakeStore(), UserStore(None), hub, lambda: (MUBA,))
    service.before_resync = PresenceReplay(Node("node-a", back),
                                           Node("node-b", stayed)).to_local
    await service.resync()
    assert service.presence_of("citra").state == "paused"
    assert service.presence_of("citra").reason == "break"
    await service.stop()
    await hub.close_all()


class Down:
    async def action(self, action: dict[str, str],
                     timeout: float | None = None) -> ActionResult:  # noqa: ASYNC109
        raise AmiError(f"AMI {action['Action']} not sent: not connected")


async def test_the_other_nodes_login_replays_to_it_in_the_background() -> None:
    stayed, back = nodes()  # node-a, this controller's node, stayed up; node-b is back
    feed = PeerFeed(AmiPeerSettings(host="127.0.0.11", secret="t", name="node-b",
                                    local_name="node-a"), LocalAmi(),  # type: ignore[arg-type]
                    make_wall=lambda ami, changed: WallService(
                        Down(), object(), LiveHub({"wall": "supervisor"}),  # type: ignore[arg-type]
                        WallSettings(), known_takers=list, ami_connected=lambda: False),
                    on_screen_event=lambda event: None, changed=lambda: None)
    assert feed.presence.peer.ami is feed.ami and feed.presence.local.name == "node-a"
    feed.presence = PresenceReplay(Node("node-a", stayed), Node("node-b", back))
    await feed._on_login()  # returns at once: the replay is a task of the feed's
    await asyncio.gather(*feed._background.tasks)
    assert back.members == stayed.members
    await feed.stop()
