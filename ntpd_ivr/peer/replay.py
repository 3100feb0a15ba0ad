"""Queue presence replayed to a node that comes back (docs/ha.md, "Presence on a node that
comes back").

The desk's presence changes (login, logout, pause, the wrap-up pause) go to both nodes
(ntpd_ivr/peer/mirror.py), but a node that is down, or whose AMI session is cut, misses
them; a restarted node starts from its configured (static) members
(`persistentmembers = no`). Presence lives in Asterisk only (the audit trail says what
was asked, not what holds now; `wrapups` knows wrap-up pauses only), so the truth is the
node that **stayed in sight**: when a controller's AMI session to a node logs in again,
and its session to the other node has been logged in since before the first one was lost,
every desk change this controller made meanwhile reached that other node (a change that
fails on the desk's own node is refused, and never mirrored), and so did the other
controller's, through its own sessions. Its QueueStatus is read and the difference is
applied to the returning node: QueueAdd of the dynamic members it lacks (paused as they
are), QueueRemove of the dynamic members it has and the other has not (logged out
meanwhile), QueuePause where the pause or its reason differs (wrap-up included). Static
members are the configuration's: never added or removed.

When the other session itself logged in again after the first was lost (both nodes
restarted?), nobody knows which node is right: nothing is replayed. At a session's first
login (this controller just started, perhaps with its node, as when one machine reboots)
the replay is additive: the logins and pauses the other node has and this one lacks, never
an unpause or a logout (a freshly started node has only its configured members; nothing
it has is known to be older).

Both controllers replay to the same returning node at about the same time: the
actions are idempotent in effect, and each is sent on its own; one refused (a QueueAdd of a
member the other controller added a moment ago) is logged and the rest go on. Every read
and action has the AMI client's time limit, the whole replay a bound of its own; reads that
fail while both sessions are up (a node answers its AMI before app_queue is loaded) are
tried again every second within that bound; a failure is logged and the replay is tried
again at the next login.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ntpd_ivr.ami.events import AmiActions, QueueMember
from ntpd_ivr.ami.queues import queue_members
from ntpd_ivr.errors import AmiError
from ntpd_ivr.workspace.model import endpoint_of

log = logging.getLogger(__name__)

REPLAY_SECONDS = 10.0  # the whole replay to one node, reads and retries included
RETRY_SECONDS = 1.0  # a node whose AMI logs in while it is still booting: read it again


class NotReady(AmiError):
    """The returning node has none of the configured (static) members yet: app_queue is
    still loading (its AMI can log in before Asterisk has fully booted)."""


@dataclass(frozen=True)
class Step:
    """One AMI action of a replay, and what it does to whom (for the log)."""

    member: str  # the member's name (its endpoint when it has none)
    queue: str
    what: str  # "logged in", "logged out", "paused (break)", "unpaused"
    action: tuple[tuple[str, str], ...]  # the AMI action's headers, in order

    def headers(self) -> dict[str, str]:
        return dict(self.action)


def _name(member: QueueMember) -> str:
    return member.member_name or endpoint_of(member.interface)


def _pause(member: QueueMember, paused: bool, reason: str) -> Step:
    headers = [("Action", "QueuePause"), ("Queue", member.queue),
               ("Interface", member.interface), ("Paused", "true" if paused else "false")]
    if paused and reason:
        headers.append(("Reason", reason))
    what = (f"paused ({reason})" if reason else "paused") if paused else "unpaused"
    return Step(_name(member), member.queue, what, tuple(headers))


def replay_steps(desired: Iterable[QueueMember], actual: Iterable[QueueMember], *,
                 additive: bool = False) -> list[Step]:
    """The actions that make `actual` (the returning node's QueueStatus members) show the
    presence of `desired` (the node that stayed up): logins first, then pauses, then
    logouts, so a queue is never emptier than both sides agree on. `additive`: only
    logins and pauses the returning node lacks; nothing it has is taken away or changed."""
    want = {(m.queue, m.interface): m for m in desired}
    have = {(m.queue, m.interface): m for m in actual}
    logins: list[Step] = []
    pauses: list[Step] = []
    logouts: list[Step] = []
    for key, member in sorted(want.items()):
        found = have.get(key)
        if found is None:
            if member.membership != "dynamic":
                continue  # static: the configuration's, not the desk's
            logins.append(Step(_name(member), member.queue, "logged in", (
                ("Action", "QueueAdd"), ("Queue", member.queue),
                ("Interface", member.interface), ("MemberName", _name(member)),
                ("StateInterface", member.state_interface or member.interface),
                ("Penalty", str(member.penalty)),
                ("Paused", "true" if member.paused else "false"))))
            if member.paused and member.paused_reason:
                pauses.append(_pause(member, True, member.paused_reason))
        elif additive:
            if member.paused and not found.paused:
                pauses.append(_pause(member, True, member.paused_reason))
        elif (found.paused != member.paused
              or (member.paused and found.paused_reason != member.paused_reason)):
            pauses.append(_pause(member, member.paused, member.paused_reason))
    for key, member in sorted(have.items()):
        if key not in want and member.membership == "dynamic" and not additive:
            logouts.append(Step(_name(member), member.queue, "logged out", (
                ("Action", "QueueRemove"), ("Queue", member.queue),
                ("Interface", member.interface))))
    return logins + pauses + logouts


FULL, ADDITIVE = "full", "additive"


def replay_mode(source_logged_in_at: float | None, source_connected: bool,
                target_lost_at: float | None) -> str | None:
    """How much of the source's presence a target session that just logged in gets.

    FULL: the source session has been logged in since before the target session was
    lost, so every change made meanwhile reached the source node. ADDITIVE: the target
    session's first login (this controller just started, perhaps with its node, as when
    one machine reboots): only what the source has and the target lacks. None: the
    source is not logged in, or it logged in again after the target was lost (both
    nodes restarted?): nobody knows which node is right."""
    if not source_connected or source_logged_in_at is None:
        return None
    if target_lost_at is None:
        return ADDITIVE
    return FULL if source_logged_in_at <= target_lost_at else None


class AmiSession(AmiActions, Protocol):
    """What a replay needs of an AMI client (AmiClient, or a fake)."""

    @property
    def connected(self) -> bool: ...

    logged_in_at: float | None
    lost_at: float | None


@dataclass(frozen=True)
class Node:
    name: str
    ami: AmiSession


class PresenceReplay:
    """Replays one node's queue presence to the other when its AMI session is back."""

    def __init__(self, local: Node, peer: Node, *, within_s: float = REPLAY_SECONDS,
                 retry_s: float = RETRY_SECONDS) -> None:
        self.local = local
        self.peer = peer
        self.within_s = within_s
        self.retry_s = retry_s
        self._locks = {local.name: asyncio.Lock(), peer.name: asyncio.Lock()}
        self.replays = 0  # replays that ran to the end (for tests and the log)

    async def to_local(self) -> list[Step]:
        """After the local session's login (before the desk reads presence back)."""
        return await self._replay(self.peer, self.local)

    async def to_peer(self) -> list[Step]:
        """After the other node's session's login."""
        return await self._replay(self.local, self.peer)

    async def _replay(self, source: Node, target: Node) -> list[Step]:
        """Never raises but CancelledError: a failure is logged, tried at the next login."""
        mode = replay_mode(source.ami.logged_in_at, source.ami.connected,
                           target.ami.lost_at)
        if mode is None:
            log.info("presence not replayed to %s: %s was not in sight all the while it "
                     "was away", target.name, source.name)
            return []
        async with self._locks[target.name]:
            try:
                async with asyncio.timeout(self.within_s):
                    return await self._apply_when_ready(source, target, mode)
            except TimeoutError:
                log.warning("presence replay to %s: not done within %g s; again at its "
                            "next login", target.name, self.within_s)
            except AmiError as exc:
                log.warning("presence replay to %s: not done (%s); again at its next login",
                            target.name, exc)
            except Exception:  # a bug here must not stop the AMI feed
                log.exception("presence replay to %s failed", target.name)
        return []

    async def _apply_when_ready(self, source: Node, target: Node, mode: str) -> list[Step]:
        """Reads again, within the bound, while they fail and both sessions are up: a node
        just started may answer its AMI before app_queue is loaded."""
        while True:
            try:
                return await self._apply(source, target, mode)
            except AmiError as exc:
                if not (source.ami.connected and target.ami.connected):
                    raise
                log.info("presence replay to %s: %s; reading again in %g s", target.name,
                         exc, self.retry_s)
            await asyncio.sleep(self.retry_s)

    async def _apply(self, source: Node, target: Node, mode: str) -> list[Step]:
        # The returning node first, then the one that stayed up: a desk change landing
        # between the two reads is then at worst applied again, never undone (a change
        # reaches both nodes one after the other, in either order).
        actual = await queue_members(target.ami)
        desired = await queue_members(source.ami)
        configured = {(m.queue, m.interface) for m in desired if m.membership == "static"}
        if configured and not configured & {(m.queue, m.interface) for m in actual}:
            raise NotReady(f"{target.name} has none of its configured queue members yet")
        steps = replay_steps(desired, actual, additive=mode == ADDITIVE)
        applied: list[Step] = []
        for step in steps:
            try:
                await target.ami.action(step.headers())
            except AmiError as exc:  # e.g. the other controller added it a moment ago
                log.warning("presence replay to %s: %s %s in %s refused: %s", target.name,
                            step.member, step.what, step.queue, exc)
                continue
            applied.append(step)
            log.info("presence replayed to %s from %s: %s %s in %s", target.name,
                     source.name, step.member, step.what, step.queue)
        self.replays += 1
        log.info("presence replay (%s) to %s from %s: %d of %d change(s) applied (%d "
                 "member(s) there)", mode, target.name, source.name, len(applied), len(steps),
                 len(desired))
        return applied
