"""The live-push hub: the controller publishes, browsers watching a topic receive.

Modelled on Home Assistant's websocket_api and aiohttp's chat demo. A browser opens
`/ws` with its session cookie (the auth middleware has already checked it), then sends
typed commands, each with an id and one answer:

    -> {"id": 1, "type": "subscribe", "topic": "notices"}
    <- {"id": 1, "type": "result", "success": true}
    <- {"type": "event", "topic": "notices", "kind": "notice", "data": {...}}

Subscriptions are explicit, checked against the topic's least role, and end with the
socket. `publish()` never waits for a browser: each socket has a bounded queue and its own
writer task, and a socket whose queue is full, or whose send stalls, is closed (1008, with
the reason); the others never wait for it. Those drops, and the messages lost with them,
are counted (`state()`: /healthz "live", /metrics). An event published with `latest=True`
is a whole state (the wall's): one still waiting in a socket's queue is replaced by the
newer one instead of queued behind it, so a screen that reads slower than the states come
gets the newest, not a backlog (counted as coalesced). The hub holds every open socket and
closes them all at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket as socket_module
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from ntpd_ivr.jsontext import dumps
from ntpd_ivr.web.auth import AGENCY_ROLE, ROLES, Session, role_allows
from ntpd_ivr.web.sessions import SessionsUnavailable

log = logging.getLogger(__name__)

# Topic -> least role that may subscribe. The screens add theirs (calls, queues, wall).
DEFAULT_TOPICS: Mapping[str, str] = {"notices": "calltaker"}
MAX_COMMAND_BYTES = 4096
# The kernel's send buffer of a live socket. Left to autotuning it grows to some 4 MB, and
# a browser that stopped reading then holds that much and is found out only minutes later
# (a wall's frames are ~10 kB, 5 a second). 256 kB still carries 5 MB/s at 50 ms of RTT.
SEND_BUFFER_BYTES = 256 * 1024


@dataclass(frozen=True)
class Event:
    """One message pushed to every socket subscribed to its topic."""
    topic: str
    kind: str
    data: Mapping[str, Any]

    def encode(self) -> str:
        return dumps({"type": "event", "topic": self.topic, "kind": self.kind,
                      "data": self.data})


@dataclass(frozen=True)
class Command:
    id: int
    type: str
    topic: str


class CommandError(Exception):
    def __init__(self, code: str, message: str, command_id: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.command_id = code, message, command_id


COMMAND_TYPES = ("subscribe", "unsubscribe")


def parse_command(text: str) -> Command:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        raise CommandError("invalid-json", "a command is one JSON object") from None
    if not isinstance(raw, dict):
        raise CommandError("invalid-format", "a command is one JSON object")
    command_id = raw.get("id")
    if not isinstance(command_id, int) or isinstance(command_id, bool) or command_id < 1:
        raise CommandError("invalid-format", "id must be a positive whole number")
    kind, topic = raw.get("type"), raw.get("topic")
    if kind not in COMMAND_TYPES:
        raise CommandError("unknown-command", f"type must be one of {', '.join(COMMAND_TYPES)}",
                           command_id)
    if not isinstance(topic, str):
        raise CommandError("invalid-format", "topic must be a string", command_id)
    return Command(command_id, kind, topic)


def result(command_id: int | None, error: CommandError | None = None) -> str:
    if error is None:
        return json.dumps({"id": command_id, "type": "result", "success": True})
    return json.dumps({"id": command_id, "type": "result", "success": False,
                       "error": {"code": error.code, "message": error.message}})


def bound_send_buffer(request: web.Request, size: int = SEND_BUFFER_BYTES) -> None:
    """SO_SNDBUF on the request's TCP socket, so that a client that reads nothing fills
    it, stalls a send and is dropped within seconds, holding little memory meanwhile."""
    transport = request.transport
    raw = transport.get_extra_info("socket") if transport is not None else None
    if raw is not None:
        with contextlib.suppress(OSError):
            raw.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_SNDBUF, size)


def _sees(session: Session, agency: str | None) -> bool:
    return agency is None or session.role != AGENCY_ROLE or session.agency == agency


class Socket(Protocol):
    """What the hub needs of a WebSocket (aiohttp's WebSocketResponse, or a test's fake)."""

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ..., drain: bool = ...) -> bool: ...


RECHECK_SECONDS = 5.0
Recheck = Callable[[], Awaitable[Session | None]]
# Reads the sessions of many cookies at once (web/sessions.py Sessions.prefetch), so that
# the rechecks that follow ask the store nothing.
Prefetch = Callable[[list[str]], Awaitable[None]]


Latest = tuple[str, str]  # (topic, kind) of a whole state, queued as a place-holder


@dataclass(eq=False)
class LiveClient:
    socket: Socket
    session: Session
    queue: asyncio.Queue[str | Latest]
    topics: set[str] = field(default_factory=set)
    writer: asyncio.Task[None] | None = None
    # The newest text of each whole state whose place-holder is in the queue.
    latest: dict[Latest, str] = field(default_factory=dict)
    sending: bool = False  # a message is out of the queue, its send not finished
    # Of each topic pushed as changes (publish_changes): the number of the last state
    # queued to this socket, whole or as changes.
    versions: dict[str, int] = field(default_factory=dict)
    recheck: Recheck | None = None  # the session as it stands now (None: it ended)
    token: str = ""                 # its cookie, for the prefetch

    def label(self) -> str:
        return f"{self.session.user} ({self.session.role})"


class LiveHub:
    def __init__(self, topics: Mapping[str, str] = DEFAULT_TOPICS, *, queue_size: int = 64,
                 send_timeout_seconds: float = 5.0, heartbeat_seconds: float = 30.0) -> None:
        unknown = {role for role in topics.values() if role not in ROLES}
        if unknown:
            raise ValueError(f"topic roles must be among {ROLES}, got {sorted(unknown)}")
        self.topics = dict(topics)
        self.queue_size = queue_size
        self.send_timeout_seconds = send_timeout_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.clients: set[LiveClient] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.sockets_dropped = 0   # for slowness: a full queue or a stalled send
        self.messages_dropped = 0  # queued for those sockets and never sent
        self.coalesced = 0         # whole states replaced by a newer one before their send
        self.prefetch: Prefetch | None = None
        self._rechecks: asyncio.Task[None] | None = None

    def state(self) -> dict[str, int]:
        return {"sockets": len(self.clients), "sockets_dropped": self.sockets_dropped,
                "messages_dropped": self.messages_dropped, "coalesced": self.coalesced}

    def publish(self, topic: str, kind: str, data: Mapping[str, Any], *,
                agency: str | None = None, user: str | None = None,
                latest: bool = False) -> int:
        """Queue an event for every subscriber of `topic`; returns how many got it queued.
        `agency`: the event concerns that agency alone, and no other agency's user gets it.
        `user`: only that user's sockets get it (a call-taker's own screen pop).
        `latest`: the event is a whole state that makes the previous one of its topic and
        kind useless: one still waiting in a socket's queue is replaced, not followed.
        Call it from the event loop's thread; it never waits."""
        self._check_topic(topic)
        text = Event(topic, kind, data).encode()
        queued = 0
        for client in list(self.clients):
            if (topic in client.topics and _sees(client.session, agency)
                    and (user is None or client.session.user == user)
                    and self._offer(client, text, (topic, kind) if latest else None)):
                queued += 1
        return queued

    def publish_changes(self, topic: str, seq: int, whole: Mapping[str, Any],
                        changes: Mapping[str, Any]) -> int:
        """A topic whose state goes out as changes (the wall: at a surge a whole state is
        ~95 kB, five times a second, to every wall). `seq` numbers the states, each one
        more than the last; `changes` turns state seq-1 into state seq. A socket that was
        queued state seq-1 (whole or as changes), has no whole state of the topic still
        waiting and a queue less than half full gets `changes` (kind "changes"); any other
        (a new subscriber, one whose whole state still waits, one falling behind) gets
        `whole` (kind "state"), in place of the one waiting: so a wall that reads slower
        than the states come is never dropped for a backlog of changes, as it was never
        dropped for whole states before. Both carry `seq`, so a screen can tell a gap.
        Each text is encoded once, and only if some socket gets it. Returns how many
        sockets got it queued."""
        self._check_topic(topic)
        state: Latest = (topic, "state")
        texts: dict[str, str] = {}
        queued = 0
        for client in list(self.clients):
            if topic not in client.topics:
                continue
            if (client.versions.get(topic) == seq - 1 and state not in client.latest
                    and client.queue.qsize() < self.queue_size // 2):
                if "changes" not in texts:
                    texts["changes"] = Event(topic, "changes", {**changes, "seq": seq}).encode()
                offered = self._offer(client, texts["changes"])
            else:
                if "state" not in texts:
                    texts["state"] = Event(topic, "state", {**whole, "seq": seq}).encode()
                offered = self._offer(client, texts["state"], state)
            if offered:
                client.versions[topic] = seq
                queued += 1
        return queued

    def _check_topic(self, topic: str) -> None:
        if topic not in self.topics:
            raise ValueError(f"unknown topic {topic!r}; known: {', '.join(self.topics)}")

    def _offer(self, client: LiveClient, text: str, latest: Latest | None = None) -> bool:
        if latest is not None and latest in client.latest:
            client.latest[latest] = text  # its place in the queue is kept
            self.coalesced += 1
            return True
        try:
            client.queue.put_nowait(text if latest is None else latest)
        except asyncio.QueueFull:
            self._drop_slow(client, "too slow: its queue is full", lost=1)
            return False
        if latest is not None:
            client.latest[latest] = text
        return True

    def _drop_slow(self, client: LiveClient, reason: str, lost: int = 0) -> None:
        """Drop a socket that cannot keep up; lost with it: its queue, the message being
        sent, and `lost` more (the one its queue could not take)."""
        if client in self.clients:
            self.sockets_dropped += 1
            self.messages_dropped += client.queue.qsize() + client.sending + lost
        self.drop(client, reason)

    def attach(self, socket: Socket, session: Session) -> LiveClient:
        client = LiveClient(socket, session, asyncio.Queue(self.queue_size))
        client.writer = asyncio.create_task(self._write(client))
        self.clients.add(client)
        log.info("live socket opened: %s (%d open)", client.label(), len(self.clients))
        return client

    async def _write(self, client: LiveClient) -> None:
        while True:
            item = await client.queue.get()
            text = item if isinstance(item, str) else client.latest.pop(item)
            client.sending = True
            try:
                await asyncio.wait_for(client.socket.send_str(text), self.send_timeout_seconds)
            except TimeoutError:
                self._drop_slow(client, f"too slow: a send took over "
                                        f"{self.send_timeout_seconds} s")
                return
            except ConnectionError:
                self.drop(client, "connection lost")
                return
            client.sending = False

    def drop(self, client: LiveClient, reason: str,
             code: int = WSCloseCode.POLICY_VIOLATION) -> None:
        """Forget the client now (it gets nothing more) and close its socket in the
        background, so the publisher never waits on it."""
        if client not in self.clients:
            return
        self.clients.discard(client)
        level = logging.INFO if code == WSCloseCode.GOING_AWAY else logging.WARNING
        log.log(level, "live socket of %s closed: %s", client.label(), reason)
        task = asyncio.create_task(self._close(client, code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, client: LiveClient, code: int, reason: str) -> None:
        if client.writer is not None:
            client.writer.cancel()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(
                client.socket.close(code=code, message=reason.encode()[:120]),
                self.send_timeout_seconds)

    def detach(self, client: LiveClient) -> None:
        """The socket ended by itself (browser left)."""
        if client in self.clients:
            self.clients.discard(client)
            log.info("live socket closed: %s (%d open)", client.label(), len(self.clients))
        if client.writer is not None:
            client.writer.cancel()

    def handle(self, client: LiveClient, text: str) -> None:
        command_id: int | None = None
        try:
            command = parse_command(text)
            command_id = command.id
            least_role = self.topics.get(command.topic)
            if least_role is None:
                raise CommandError("unknown-topic", f"no topic {command.topic!r}", command.id)
            if not role_allows(client.session.role, least_role):
                raise CommandError("forbidden", f"topic {command.topic} needs {least_role} "
                                                f"or above", command.id)
        except CommandError as exc:
            self._offer(client, result(exc.command_id if exc.command_id else command_id, exc))
            return
        if command.type == "subscribe":
            client.topics.add(command.topic)
        else:
            client.topics.discard(command.topic)
        client.versions.pop(command.topic, None)  # its next state goes whole
        self._offer(client, result(command.id))

    async def serve(self, request: web.Request, session: Session,
                    recheck: Recheck | None = None, token: str = "") -> web.WebSocketResponse:
        """`recheck`: the session as it stands now (None: it ended), asked every
        RECHECK_SECONDS, so a logout, a removed user or a new role closes the socket;
        `token`: its cookie, so that one `prefetch` reads every socket's session first."""
        socket = web.WebSocketResponse(heartbeat=self.heartbeat_seconds,
                                       max_msg_size=MAX_COMMAND_BYTES)
        await socket.prepare(request)
        bound_send_buffer(request)
        client = self.attach(socket, session)
        client.recheck, client.token = recheck, token
        # A session ends at its expiry even on a socket that stays open.
        expiry = asyncio.get_running_loop().call_later(
            max(0.0, session.expires - time.time()),
            lambda: self.drop(client, "session expired", WSCloseCode.POLICY_VIOLATION))
        if recheck is not None and (self._rechecks is None or self._rechecks.done()):
            self._rechecks = asyncio.create_task(self._recheck_all())
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    self.handle(client, message.data)
                elif message.type == WSMsgType.BINARY:
                    self.drop(client, "sent a binary frame", WSCloseCode.UNSUPPORTED_DATA)
                else:  # ERROR: aiohttp has already closed it (e.g. a frame over the size limit)
                    break
        finally:
            expiry.cancel()
            self.detach(client)
        return socket

    async def _recheck_all(self) -> None:
        """Every RECHECK_SECONDS, every socket's session as it stands now: first all of
        them in one read (`prefetch`), then each compared. One task and one query for all
        the screens, where a task and a query per socket cost 10 % of the controller's
        busy time with 50 screens open (docs/performance.md, bench-screens)."""
        while any(c.recheck is not None for c in self.clients):
            await asyncio.sleep(RECHECK_SECONDS)
            clients = [c for c in self.clients if c.recheck is not None]
            if self.prefetch is not None and clients:
                try:
                    await self.prefetch([c.token for c in clients])
                except SessionsUnavailable as exc:  # the store is down: keep the sockets
                    log.warning("live sockets: sessions not rechecked: %s", exc)
                    continue
            for client in clients:
                if client in self.clients and client.recheck is not None:
                    await self._recheck(client, client.recheck)

    async def _recheck(self, client: LiveClient, recheck: Recheck) -> None:
        try:
            now = await recheck()
        except SessionsUnavailable as exc:  # the store is down: keep the socket
            log.warning("live socket of %s: session not rechecked: %s", client.label(), exc)
            return
        except Exception:  # one socket's bug must not end the rechecks of the others
            log.exception("live socket of %s: recheck failed", client.label())
            return
        if now is None or (now.role, now.agency) != (client.session.role,
                                                     client.session.agency):
            self.drop(client, "session ended or changed: log in again")

    def watching(self, topic: str, user: str) -> bool:
        """Whether `user` has a socket subscribed to `topic` (nothing to look up if not)."""
        return any(topic in c.topics and c.session.user == user for c in self.clients)

    async def close_all(self) -> None:
        """At shutdown: every socket gets a Going Away close, then the hub is empty."""
        if self._rechecks is not None:
            self._rechecks.cancel()
        for client in list(self.clients):
            self.drop(client, "server shutting down", WSCloseCode.GOING_AWAY)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
