"""The other node's AMI, for the screens only.

With two nodes (docs/ha.md) each controller records and reconciles its own node's calls;
its live screens would see only its own node. `PeerFeed` keeps a second AMI session, to
the other node's Asterisk (`[ami_peer]`), and hands its typed events to the wall (a
WallService of its own, merged into the local wall's picture) and to the call-takers'
screen pops. Never to the call recorder, the dispatcher, the warnings or prank: the other
node's controller does those for its own calls, so nothing is recorded twice.

The AMI client reconnects on its own (every `ami.reconnect_delay_seconds`, as the local
one); a watch loop notices the session coming and going and pushes the wall at once, so
a down node is on the wall within about a second. When the other node's session logs in
again, the queue presence the desks changed meanwhile is replayed to it
(ntpd_ivr/peer/replay.py).

It also confirms the other node's calls to this controller's FastAGI server (its dialplan
tries this controller when its own is down, docs/ha.md): their Newchannel, and the live
calls listed at each login (calls/confirm.py); for those that had their session here, who
the caller is goes on record from there (the other controller may be the one down). The
session uses the other node's `ntpd-ivr-peer` account: read-only but for the desk's
presence (docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.ami.events import AmiEvent, CoreShowChannel, Newchannel
from ntpd_ivr.background import Background
from ntpd_ivr.calls.values import CallUpdate, arrival, live_112_calls, live_arrival
from ntpd_ivr.errors import AmiError
from ntpd_ivr.peer.nodes import NodeWatch, merge_walls
from ntpd_ivr.peer.replay import Node, PresenceReplay
from ntpd_ivr.settings import AmiPeerSettings
from ntpd_ivr.wall.model import WallState

log = logging.getLogger(__name__)

WATCH_SECONDS = 0.5  # how often the sessions' state is looked at
PEER = "peer"  # this session among those that confirm FastAGI sessions' calls


class NodeWall(Protocol):
    """The other node's wall (a wall/service.py WallService the plugin makes)."""

    state: WallState
    heard_at: float | None

    def on_event(self, event: AmiEvent) -> None: ...

    def on_login(self) -> None: ...

    async def stop(self) -> None: ...


class Confirmations(Protocol):
    """The FastAGI sessions' confirmation (calls/confirm.py CallConfirmations, core's)."""

    def watch(self, name: str, ami: AmiClient) -> None: ...

    def seen(self, uniqueid: str, identity: CallUpdate | None = None) -> None: ...

    def resynced(self, name: str) -> None: ...


class PeerFeed:
    def __init__(self, settings: AmiPeerSettings, local_ami: AmiClient, *,
                 make_wall: Callable[[AmiClient, Callable[[], None]], NodeWall],
                 on_screen_event: Callable[[AmiEvent], None],
                 changed: Callable[[], None],
                 confirmations: Confirmations | None = None) -> None:
        self.settings = settings
        self.local_ami = local_ami
        self.ami = AmiClient(settings.ami(local_ami.settings), on_event=self._on_event,
                             on_login=self._on_login)
        self.wall = make_wall(self.ami, changed)
        self.on_screen_event = on_screen_event
        self.changed = changed
        self.confirmations = confirmations
        if confirmations is not None:
            confirmations.watch(PEER, self.ami)
        self.local = NodeWatch(settings.local_name, "local")
        self.peer = NodeWatch(settings.name, "peer")
        self._background = Background("peer")
        # Queue presence to a node that comes back, from the one that stayed in sight.
        self.presence = PresenceReplay(Node(settings.local_name, local_ami),
                                       Node(settings.name, self.ami))

    async def _on_event(self, event: AmiEvent) -> None:
        if (self.confirmations is not None and isinstance(event, Newchannel)
                and event.context in dp.CALLER_CONTEXTS):
            self.confirmations.seen(event.uniqueid, arrival(event))
        self.wall.on_event(event)  # never waits
        self.on_screen_event(event)  # never waits: pops run in tasks of their own

    async def _on_login(self) -> None:
        log.info("AMI of the other node %s: logged in (its calls on the screens again)",
                 self.settings.name)
        self.wall.on_login()  # its calls again from its lists, in a task
        await self._confirm_live_calls()
        self._background.spawn(self.presence.to_peer(), "peer-presence-replay")

    async def _confirm_live_calls(self) -> None:
        """The other node's live 112 calls, which events during a disconnect may not have
        shown. In the AMI consumer, in order: events after the list come after it."""
        if self.confirmations is None:
            return
        try:
            result = await self.ami.action({"Action": "CoreShowChannels"})
        except AmiError as exc:
            log.warning("AMI of the other node %s: live calls not listed (%s); its calls to "
                        "this controller stay pending until its next login",
                        self.settings.name, exc)
            return
        now = time.time()
        for uniqueid, channel in live_112_calls(e for e in result.events
                                                if isinstance(e, CoreShowChannel)).items():
            self.confirmations.seen(uniqueid, live_arrival(channel, now))
        self.confirmations.resynced(PEER)

    def nodes(self, local_heard_at: float | None) -> list[dict[str, Any]]:
        """Both nodes as the wall shows them, brought up to date now."""
        self._observe(local_heard_at)
        return [self.local.to_json(), self.peer.to_json()]

    def _observe(self, local_heard_at: float | None) -> bool:
        now = time.time()
        local = self.local.observed(self.local_ami.connected, local_heard_at,
                                    self.local_ami.last_error, now)
        # Logged in means its pings are answered (ami.ping_interval_seconds): heard now.
        heard = now if self.ami.connected else self.peer.heard_at or self.wall.heard_at
        peer = self.peer.observed(self.ami.connected, heard, self.ami.last_error, now)
        moved = (local.connected, peer.connected) != (self.local.connected,
                                                      self.peer.connected)
        if self.peer.connected and not peer.connected:
            log.warning("AMI of the other node %s: down (%s); the wall says so",
                        self.settings.name, peer.last_error or "not logged in")
            self.wall.state.calls.clear()  # not known any more: not shown as live
        self.local, self.peer = local, peer
        return moved

    def merged(self, local_wall: dict[str, Any]) -> dict[str, Any]:
        """The local WallState.to_json() with the other node's calls in."""
        return merge_walls(local_wall, self.wall.state.to_json(), self.settings.local_name,
                           self.settings.name)

    async def start(self) -> None:
        await self.ami.start()
        self._background.spawn(self._watch(), "peer-watch")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                if self._observe(self.local.heard_at):
                    self.changed()
            except Exception:  # a bug here must not stop the watch for good
                log.exception("peer: node watch failed")

    async def stop(self) -> None:
        await self._background.stop()
        await self.ami.stop()
        await self.wall.stop()
