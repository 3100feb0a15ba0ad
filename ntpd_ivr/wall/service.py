"""The wall's service: keeps WallState from AMI, adds today's figures, open incidents and
the callback list, and pushes the picture to supervisors' walls on the hub: whole to a wall
that just subscribed, then only what changed (wall_changes).

`on_event` is on the call path (every AMI event, see docs/performance.md): one pure
transition of a dict entry and, when something changed and a wall is open, one timer.
The rest (QueueStatus refreshes, database reads) runs in tasks of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from ntpd_ivr.ami.events import (
    AmiActions,
    AmiEvent,
    CoreShowChannel,
    QueueEntry,
    QueueMember,
)
from ntpd_ivr.background import Background
from ntpd_ivr.errors import AmiError
from ntpd_ivr.settings import WallSettings
from ntpd_ivr.wall.model import TARGETS, TOPIC, EndedCall, WallState, wall_changes
from ntpd_ivr.web.hub import LiveHub

log = logging.getLogger(__name__)

PUSH_DELAY_SECONDS = 0.2  # at most one push per this long; changes meanwhile go as one
MIN_REFRESH_SECONDS = 3.0  # figures and incidents are read again at most this often


class WallReads(Protocol):
    async def figures_today(self, now: datetime) -> dict[str, Any]: ...

    async def open_incidents(self) -> list[dict[str, Any]]: ...

    async def waiting_dispatches(self) -> list[dict[str, Any]]: ...


class PeerView(Protocol):
    """The other node, with two nodes (ntpd_ivr/peer/feed.py)."""

    def nodes(self, local_heard_at: float | None) -> list[dict[str, Any]]: ...

    def merged(self, local_wall: dict[str, Any]) -> dict[str, Any]: ...


class WallService:
    def __init__(self, ami: AmiActions, store: WallReads, hub: LiveHub,
                 settings: WallSettings, *, known_takers: Callable[[], Iterable[str]],
                 ami_connected: Callable[[], bool],
                 callbacks: Callable[[], Mapping[str, Any]] = dict,
                 texts: Callable[[], Mapping[str, Any]] = dict,
                 alerts: Callable[[], Mapping[str, Any]] = dict,
                 on_call_ended: Callable[[EndedCall], None] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.ami = ami
        self.store = store
        self.hub = hub
        self.settings = settings
        self.known_takers = known_takers
        self.ami_connected = ami_connected
        self.callbacks = callbacks
        self.texts = texts  # the text sessions waiting for a call-taker (ntpd_ivr/texts)
        self.alerts = alerts
        self.on_call_ended = on_call_ended
        self.state = WallState(settings.wrapup_seconds)
        self.heard_at: float | None = None  # last event or reply from Asterisk
        self.rebuilt_at: float | None = None  # last rebuild from CoreShowChannels/QueueStatus
        self.figures: dict[str, Any] = {}
        self.figures_at: float | None = None
        self.incidents: list[dict[str, Any]] = []
        self.dispatches: list[dict[str, Any]] = []
        self._push: asyncio.TimerHandle | None = None
        self._pushed: dict[str, Any] | None = None  # the last whole state pushed
        self._seq = 0  # its number
        self._pushed_at = float("-inf")  # loop time of the last push
        # Events that arrive while a rebuild waits for Asterisk's lists: applied again, in
        # order, over the rebuilt state (the lists were taken somewhere among them).
        self._replay: list[AmiEvent] | None = None
        self._background = Background("wall")
        self._incidents_wanted = asyncio.Event()
        self._figures_wanted = asyncio.Event()
        # The other node's wall keeps its state only: its changes go to the local wall.
        self.on_change = on_change
        self.peer: PeerView | None = None

    # --- the call path ------------------------------------------------------------------

    def on_event(self, event: AmiEvent) -> None:
        """Every AMI event, in order; never waits."""
        self.heard_at = event.received_at
        if self._replay is not None:
            self._replay.append(event)
        changed, ended = self.state.apply(event)
        if ended is not None:
            self._figures_wanted.set()
            if self.on_call_ended is not None:
                self.on_call_ended(ended)
        if changed:
            self.changed()

    def changed(self) -> None:
        """Something on the wall changed: one push soon, if anyone is watching."""
        if self.on_change is not None:
            self.on_change()
            return
        if self._push is None and self.watched():
            # A change after a quiet spell goes out as soon as the events read with it are
            # applied (delay 0: after this AMI block); during a burst, PUSH_DELAY_SECONDS
            # after the last push. Before issue 26 every change waited the whole delay.
            loop = asyncio.get_running_loop()
            wait = max(0.0, self._pushed_at + PUSH_DELAY_SECONDS - loop.time())
            self._push = loop.call_later(wait, self._flush)

    def overflowed(self, uniqueid: str, note: Mapping[str, str] | None) -> None:
        """A call another center's edge overflowed here (the IVR told the bus): marked on
        the wall while it is live; a note our config cannot name (None) marks nothing."""
        if note is not None and self.state.mark_overflow(uniqueid, note):
            self.changed()

    def alerts_changed(self) -> None:
        """An alert for the center arrived, or surge mode changed: on the wall at once."""
        if self.on_change is not None:
            self.on_change()
        elif self.watched():
            self._flush_now()

    def watched(self) -> bool:
        return any(TOPIC in client.topics for client in self.hub.clients)

    def _flush(self) -> None:
        self._push = None
        self._pushed_at = asyncio.get_running_loop().time()
        # A wall that holds the last state gets only what changed; any other, the whole.
        whole = self.snapshot()
        changes = wall_changes(self._pushed, whole) if self._pushed is not None else {}
        self._seq += 1
        self.hub.publish_changes(TOPIC, self._seq, whole, changes)
        self._pushed = whole

    def snapshot(self) -> dict[str, Any]:
        live = self.state.to_json()
        nodes: list[dict[str, Any]] = []
        if self.peer is not None:  # two nodes: both nodes' calls, and each node's state
            live = self.peer.merged(live)
            nodes = self.peer.nodes(self.heard_at)
        return {"now": time.time(), "as_of": self.heard_at, "rebuilt_at": self.rebuilt_at,
                "ami_connected": self.ami_connected(),
                "stale_after_seconds": self.settings.stale_after_seconds, "nodes": nodes,
                **live, "figures": self.figures, "figures_at": self.figures_at,
                "targets": dict(TARGETS), "incidents": self.incidents,
                "dispatches": self.dispatches, "callbacks": dict(self.callbacks()),
                "texts": dict(self.texts()), "alerts": dict(self.alerts())}

    # --- rebuilding from Asterisk -------------------------------------------------------

    def on_login(self) -> None:
        """After every AMI login: everything again from Asterisk (events were lost)."""
        self._background.spawn(self.rebuild(), "wall-rebuild")

    async def rebuild(self) -> None:
        self._replay = []
        try:
            channels = await self.ami.action({"Action": "CoreShowChannels"})
            status = await self.ami.action({"Action": "QueueStatus"})
            now = time.time()
            self.state.resync([e for e in channels.events if isinstance(e, CoreShowChannel)],
                              [e for e in status.events if isinstance(e, QueueEntry)],
                              [e for e in status.events if isinstance(e, QueueMember)],
                              self.known_takers(), now)
            for event in self._replay:  # their ends were handed on when they arrived
                self.state.apply(event)
        except AmiError as exc:
            log.warning("wall not rebuilt from AMI: %s", exc)
            return
        finally:
            self._replay = None
        self.heard_at = self.rebuilt_at = now
        log.info("wall rebuilt from AMI: %d call(s), %d call-taker(s)",
                 len(self.state.calls), len(self.state.takers))
        self._flush_now()

    async def refresh_members(self) -> None:
        """Pauses, logins and phones going away happen outside our events: QueueStatus."""
        try:
            status = await self.ami.action({"Action": "QueueStatus"})
        except AmiError as exc:
            log.debug("wall: QueueStatus failed: %s", exc)
            return
        now = time.time()
        self.heard_at = now
        self.state.set_members([e for e in status.events if isinstance(e, QueueMember)],
                               self.known_takers(), now)

    async def refresh_figures(self) -> None:
        try:
            self.figures = await self.store.figures_today(datetime.now().astimezone())
            self.figures_at = time.time()
        except Exception as exc:  # the database is down: the wall says how old they are
            log.warning("wall: today's figures not read: %s", exc)

    async def refresh_incidents(self) -> None:
        try:
            self.incidents = await self.store.open_incidents()
            self.dispatches = await self.store.waiting_dispatches()
        except Exception as exc:
            log.warning("wall: incidents not read: %s", exc)

    def incidents_changed(self) -> None:
        self._incidents_wanted.set()

    # --- the background loops -----------------------------------------------------------

    def start(self) -> None:
        self._background.spawn(self._members_loop(), "wall-members")
        self._background.spawn(self._refresh_loop(self.refresh_figures, self._figures_wanted),
                    "wall-figures")
        self._background.spawn(self._refresh_loop(self.refresh_incidents, self._incidents_wanted),
                    "wall-incidents")

    async def _members_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.member_refresh_seconds)
            # Also while nobody watches: a wall opened later starts from a fresh "as of".
            try:
                await self.refresh_members()
                self.state.tick(time.time())
            except Exception:  # a bug here must not stop the wall's refreshes for good
                log.exception("wall: member refresh failed")
            if self.watched():  # also carries "as of" and the AMI state: never silently stale
                self._flush_now()

    async def _refresh_loop(self, refresh: Callable[[], Any], wanted: asyncio.Event) -> None:
        """Read again every figures_refresh_seconds, or soon after something asked."""
        while True:
            wanted.clear()
            await refresh()
            self.changed()
            try:
                async with asyncio.timeout(self.settings.figures_refresh_seconds):
                    await wanted.wait()
            except TimeoutError:
                continue
            # The call's record is on its way through the spool; and under load, one read
            # per few seconds however many calls end.
            await asyncio.sleep(MIN_REFRESH_SECONDS)

    def _flush_now(self) -> None:
        if self.on_change is not None:
            self.on_change()
            return
        if self._push is not None:
            self._push.cancel()
        self._flush()

    async def stop(self) -> None:
        if self._push is not None:
            self._push.cancel()
        await self._background.stop()
