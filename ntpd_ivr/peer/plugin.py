"""Two nodes as a plugin: the other node's AMI for the wall and the screen pops only; each
controller records its own node's calls (ntpd_ivr/peer/feed.py, docs/ha.md). Without
`ami_peer.host`, an empty plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ntpd_ivr.ami.client import AmiClient
from ntpd_ivr.core import Core, Key, Plugin, Start, Stop
from ntpd_ivr.peer.feed import PeerFeed
from ntpd_ivr.peer.mirror import MirroredActions
from ntpd_ivr.wall.plugin import WALL
from ntpd_ivr.wall.service import WallService
from ntpd_ivr.workspace.plugin import WORKSPACE

PEER = Key("peer", PeerFeed)


def load(core: Core) -> Plugin:
    settings = core.settings.ami_peer
    if not settings.host:
        return Plugin("peer")
    wall, workspace = core.services[WALL], core.services[WORKSPACE]

    def make_wall(ami: AmiClient, changed: Callable[[], None]) -> WallService:
        return WallService(ami, wall.store, core.hub, core.settings.wall,
                           known_takers=wall.known_takers,
                           ami_connected=lambda: ami.connected, on_change=changed)
    feed = PeerFeed(settings, core.ami, make_wall=make_wall,
                    on_screen_event=workspace.on_event, changed=wall.changed,
                    confirmations=core.confirmations)
    core.services.provide(PEER, feed)
    wall.peer = feed
    # The desk's presence changes (login, pause, wrap-up) on both nodes.
    mirrored = MirroredActions(core.ami, feed.ami, settings.name)
    workspace.ami = workspace.wrapups.ami = mirrored
    # A node back from an outage gets the presence changed meanwhile (docs/ha.md).
    workspace.before_resync = feed.presence.to_local

    def health() -> dict[str, Any]:  # the other node's AMI (screens only): not in the status
        return feed.ami.state()

    return Plugin("peer", start=feed.start, start_phase=Start.PEER, stop=feed.stop,
                  stop_phase=Stop.PEER, health=health, health_key="ami_peer")
