"""AMI client on panoramisk's `Manager`, hardened for a service that must never stall.

What panoramisk 1.4 leaves to us, and how it is handled here:
- `connect()` does not wait for login: `start()` returns at once and `wait_connected()`
  waits for the login, so the service starts while Asterisk is down.
- Actions sent while disconnected never resolve: every action runs under a timeout, fails
  at once when we are not logged in, and fails as soon as the connection drops.
- Its ping has no pong timeout: it is switched off and `ping_watchdog()` aborts the
  transport when a Ping goes unanswered, which makes panoramisk reconnect.
- Coroutine event callbacks are fired without a reference: one synchronous callback puts
  typed events on a queue, and one consumer task hands them to `on_event` in order.
- It would replay unanswered actions after the next FullyBooted: a replayed Redirect or
  Originate could act twice, so in-flight actions fail instead and the replay is disabled.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from ntpd_ivr.ami.events import (
    ActionResult,
    AmiEvent,
    parse_event,
    parse_headers,
    parse_response,
)
from ntpd_ivr.errors import AmiError
from ntpd_ivr.settings import AmiSettings

log = logging.getLogger(__name__)

# None: handled, nothing to wait for (the common case: no coroutine per event).
EventHandler = Callable[[AmiEvent], Awaitable[None] | None]
LoginHandler = Callable[[], Awaitable[None]]


class _RedactSecret(logging.Filter):
    """panoramisk logs whole actions on some errors; a Login action carries the secret."""

    _SECRET = re.compile(r"(?i)(secret['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._SECRET.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_panoramisk_log = logging.getLogger(__name__ + ".panoramisk")
_panoramisk_log.addFilter(_RedactSecret())


class _Action(actions.Action):  # type: ignore[misc]
    @property
    def multi(self) -> bool:
        # Only Asterisk's list marker means "events follow". panoramisk also guesses from
        # the message text, and its guess leaves QueueAdd ("Added interface to queue")
        # waiting forever for a list that never comes.
        return str(self.responses[0].get("EventList", "")).lower() == "start"


def _event_headers(block: str) -> dict[str, str]:
    """One AMI message's headers, keyed in lowercase; a repeated header (ChanVariable)
    keeps every value, one per line. Lines without ': ' are skipped, as panoramisk does."""
    headers: dict[str, str] = {}
    for line in block.split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            continue
        key = key.lower()
        headers[key] = f"{headers[key]}\n{value}" if key in headers else value
    return headers


class _Protocol(AMIProtocol):  # type: ignore[misc]
    def data_received(self, data: bytes) -> None:
        """Events go straight to the client as plain headers; answers to actions (they
        carry an ActionID), the banner and Shutdown take panoramisk's own path.

        panoramisk turns every message into a case-insensitive Message and matches it
        against each registered pattern: with a dozen events per call, that was the
        largest part of the controller's AMI cost under load.
        """
        manager = self.factory
        client = getattr(manager, "client", None)
        if self.version is None or client is None:
            super().data_received(data)
            return
        text = data.decode("ascii", "ignore")  # as panoramisk decodes
        if self.queue:
            text = self.queue.popleft() + text
        blocks = text.split("\r\n\r\n")
        self.queue.append(blocks.pop())
        for raw in blocks:
            block = raw.strip()  # Asterisk sometimes ends a message with one EOL only
            if (block.startswith("Event: ") and "\r\nActionID: " not in block
                    and not block.startswith("Event: Shutdown")):
                client.on_event_block(block)
                continue
            message = Message.from_line(block)
            if message is not None:
                self.handle_message(message)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.factory is None:
            # The connect was cancelled (stop) before panoramisk adopted this protocol;
            # its own connection_lost would call the missing factory.
            self.closed = True
            return
        super().connection_lost(exc)


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with its loose ends tied to the client."""

    def __init__(self, client: AmiClient, **config: Any) -> None:
        super().__init__(**config)
        self._client = client
        self.client = client  # _Protocol hands events to it
        # panoramisk int()s the delay (0.5 s would become a busy loop); keep the float.
        self.reconnect_timeout = client.settings.reconnect_delay_seconds
        self.connect_task: asyncio.Task[Any] | None = None
        self.retry: asyncio.TimerHandle | None = None
        # The FullyBooted hook only replays actions, which we never want replayed.
        self.callbacks.pop("FullyBooted", None)
        self.patterns: list[Any] = [p for p in self.patterns if p[0] != "FullyBooted"]

    def ping(self) -> None:
        """Replaced by AmiClient.ping_watchdog, which has a pong timeout."""

    def connect(self, *_: Any, **__: Any) -> asyncio.Task[Any] | None:
        if self._client._stopping:
            return None
        self.connect_task = super().connect()
        return self.connect_task

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled():
            return
        exc = f.exception()
        if self._client._stopping:
            if exc is None:  # connected just as we stopped: hang up
                f.result()[0].close()
            return
        if exc is not None:
            # panoramisk retries only after OSError; retry after anything.
            self._client._connect_failed(exc)
            self.retry = self.loop.call_later(self.reconnect_timeout, self.connect)
            return
        super().connection_made(f)
        self._client._tcp_connected()

    def login(self, future: asyncio.Future[Any]) -> bool:
        ok = bool(super().login(future))
        self._client._login_result(future.result(), ok)
        return ok

    def connection_lost(self, exc: Any) -> None:
        self._client._disconnected(exc)
        super().connection_lost(exc)  # schedules connect(), a no-op once stopping


def _plain(message: Mapping[str, Any]) -> dict[str, str]:
    # Repeated headers (ChanVariable) arrive as lists; AMI values never hold a newline.
    return {key: value if isinstance(value, str) else "\n".join(map(str, value))
            for key, value in message.items() if not (key == "content" and not value)}


class AmiClient:
    """One AMI session to Asterisk, kept alive for the life of the service.

    `on_event` gets every typed event in arrival order, one at a time; `on_login` runs
    after every (re)login at its place in that same order, so the two never overlap.
    Exceptions from either are logged and the stream carries on.
    """

    def __init__(self, settings: AmiSettings, on_event: EventHandler | None = None,
                 on_login: LoginHandler | None = None) -> None:
        self.settings = settings
        self._on_event = on_event
        self._on_login = on_login
        self._manager: _Manager | None = None
        # None marks "logged in here": on_login runs in the event order, never beside on_event.
        self._queue: asyncio.Queue[AmiEvent | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._logged_in = asyncio.Event()
        self._inflight: set[asyncio.Future[Any]] = set()
        self._tcp_since: float | None = None
        self._abort_reason: str | None = None
        self._login_rejected = False  # on the current connection
        self._stopping = False
        self.logins = 0
        # When this session last logged in, and last lost a logged-in connection (epoch s):
        # whether one node stayed in sight while the other was away (ntpd_ivr/peer/replay.py).
        self.logged_in_at: float | None = None
        self.lost_at: float | None = None
        self.last_error: str | None = None
        self.events_received = 0
        self.events_malformed = 0

    @property
    def connected(self) -> bool:
        """Logged in on a live connection."""
        return self._logged_in.is_set()

    @property
    def backlog(self) -> int:
        """Events (and login marks) received but not yet handed to on_event/on_login."""
        return self._queue.qsize()

    def state(self) -> dict[str, Any]:
        return {"connected": self.connected, "host": self.settings.host,
                "port": self.settings.port, "logins": self.logins,
                "last_error": self.last_error, "events_received": self.events_received,
                "events_malformed": self.events_malformed}

    async def start(self) -> None:
        """Connect in the background; returns before (and whether or not) Asterisk answers."""
        if self._manager is not None:
            raise RuntimeError("AmiClient already started")
        self._stopping = False
        s = self.settings
        self._manager = _Manager(self, host=s.host, port=s.port, username=s.username,
                                 secret=s.secret, events="on", log=_panoramisk_log,
                                 protocol_factory=_Protocol, loop=asyncio.get_running_loop())
        self._manager.register_event("*", self._on_message)
        self._tasks = [asyncio.create_task(self._consume(), name="ami-events"),
                       asyncio.create_task(self.ping_watchdog(), name="ami-watchdog")]
        log.info("AMI connecting to %s:%d as %s", s.host, s.port, s.username)
        self._manager.connect()

    # The timeouts belong in these signatures: a caller cannot wrap an action in
    # asyncio.timeout() and also get the in-flight bookkeeping and AmiError right.
    async def wait_connected(self, timeout: float) -> bool:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        self._stopping = True
        manager, self._manager = self._manager, None
        for task in self._tasks:
            task.cancel()
        # return_exceptions: our tasks' CancelledError is collected, a cancel of stop() is not.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if manager is not None:
            if manager.retry is not None:
                manager.retry.cancel()
            if manager.connect_task is not None:
                manager.connect_task.cancel()
            manager.close()
        self._logged_in.clear()
        self._fail_inflight("AMI client stopped")

    async def action(self, action: dict[str, str],
                     timeout: float | None = None,  # noqa: ASYNC109
                     ) -> ActionResult:
        """Send one action and wait for its answer, typed, or raise AmiError.

        List actions (CoreShowChannels, QueueStatus, QueueSummary) also return their item
        events, typed like any event, without the closing *Complete event.
        """
        name = action.get("Action", "?")
        timeout = self.settings.action_timeout_seconds if timeout is None else timeout
        manager = self._manager
        protocol = manager.protocol if manager is not None else None
        if not self.connected or manager is None or protocol is None or protocol.closed:
            raise AmiError(f"AMI {name} not sent: not connected to Asterisk "
                           f"({self.last_error or 'not logged in yet'})")
        request = _Action(dict(action))
        future = manager.send_action(request)
        self._inflight.add(future)
        try:
            answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AmiError(f"AMI {name}: no answer within {timeout:g}s") from None
        finally:
            self._inflight.discard(future)
            protocol.responses.pop(request.id, None)  # a late answer has nobody to go to
        now = time.time()
        if isinstance(answer, list):
            items = (parse_event(_plain(m), now) for m in answer[1:]
                     if not str(m.get("Event", "")).endswith("Complete"))
            return ActionResult(parse_response(_plain(answer[0]), now),
                                tuple(item for item in items if item is not None))
        response = parse_response(_plain(answer), now)
        if response.response not in ("Success", "Follows", "Goodbye"):
            raise AmiError(f"AMI {name} failed: {response.message or response.response}")
        return ActionResult(response)

    async def ping_watchdog(self) -> None:
        """Every ping interval: Ping under a pong timeout; abort a dead transport.

        A connection that never completes its login is aborted the same way, so a silent
        Asterisk cannot hold us connected-but-useless.
        """
        s = self.settings
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(s.ping_interval_seconds)
            manager = self._manager
            protocol = manager.protocol if manager is not None else None
            if protocol is None or protocol.closed:
                continue
            if not self.connected:
                if (self._tcp_since is not None
                        and loop.time() - self._tcp_since > s.action_timeout_seconds):
                    self._abort(protocol, f"no login answer within {s.action_timeout_seconds:g}s")
                continue
            try:
                await self.action({"Action": "Ping"}, timeout=s.ping_timeout_seconds)
            except AmiError:
                if manager is not None and manager.protocol is protocol and not protocol.closed:
                    self._abort(protocol, f"no Pong within {s.ping_timeout_seconds:g}s")

    def _abort(self, protocol: Any, reason: str) -> None:
        log.warning("AMI %s; dropping the connection to reconnect", reason)
        self._abort_reason = reason
        protocol.transport.abort()  # panoramisk sees connection_lost and reconnects

    # --- events -------------------------------------------------------------------------

    def on_event_block(self, block: str) -> None:
        """One event message as Asterisk wrote it (from _Protocol): type it and queue it.
        Called synchronously from data_received: must be quick and must not raise."""
        self.events_received += 1
        event = parse_headers(_event_headers(block), lambda: tuple(
            (key, value) for key, sep, value in (line.partition(": ")
                                                 for line in block.split("\r\n")) if sep))
        if event is None:
            self.events_malformed += 1
            return
        self._queue.put_nowait(event)

    def _on_message(self, _manager: Any, message: Mapping[str, Any]) -> None:
        # Called synchronously from data_received: must be quick and must not raise.
        self.events_received += 1
        store = getattr(message, "_store", None)
        if isinstance(store, dict):
            # panoramisk's Message keeps {lowercase key: (key, value)}: read it as it is
            # rather than through its case-insensitive lookups (most of the AMI cost).
            headers = {key: value if isinstance(value, str) else "\n".join(map(str, value))
                       for key, (_, value) in store.items()}
            event = parse_headers(headers, lambda: tuple(_plain(message).items()))
        else:
            event = parse_event(_plain(message))
        if event is None:
            self.events_malformed += 1
            return
        self._queue.put_nowait(event)

    async def _consume(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                if event is None:
                    if self._on_login is not None:
                        await self._on_login()
                elif self._on_event is not None:
                    pending = self._on_event(event)
                    if pending is not None:
                        await pending
            except Exception:
                what = "on_login" if event is None else f"on_event({event.name})"
                log.exception("AMI %s handler failed; carrying on", what,
                              extra={"call_id": getattr(event, "uniqueid", "-")})

    # --- callbacks from _Manager ----------------------------------------------------------

    def _tcp_connected(self) -> None:
        self._tcp_since = asyncio.get_running_loop().time()
        self._login_rejected = False
        log.info("AMI connected to %s:%d, logging in", self.settings.host, self.settings.port)

    def _connect_failed(self, exc: BaseException) -> None:
        reason = f"cannot connect to {self.settings.host}:{self.settings.port}: {exc}"
        if reason != self.last_error:  # one line per outage, not one per retry
            log.warning("AMI %s; retrying every %gs", reason, self.settings.reconnect_delay_seconds)
        self.last_error = reason

    def _login_result(self, response: Mapping[str, Any], ok: bool) -> None:
        self._tcp_since = None
        if self._stopping:  # a login answer that was on its way when stop() ran
            return
        if ok:
            self.logins += 1
            self.logged_in_at = time.time()
            self._logged_in.set()
            self._queue.put_nowait(None)
            log.info("AMI logged in to %s:%d (login #%d)", self.settings.host,
                     self.settings.port, self.logins)
            return
        self._login_rejected = True
        reason = f"login rejected: {response.get('Message') or response.get('Response')}"
        if reason != self.last_error:  # one line per outage, not one per retry
            log.error("AMI %s (user %s); retrying every %gs", reason, self.settings.username,
                      self.settings.reconnect_delay_seconds)
        self.last_error = reason
        manager = self._manager
        if manager is not None and manager.protocol is not None and not manager.protocol.closed:
            manager.protocol.transport.abort()  # Asterisk hangs up too; do not rely on it

    def _disconnected(self, exc: Any) -> None:
        was_connected = self.connected
        if was_connected:
            self.lost_at = time.time()
        self._logged_in.clear()
        self._tcp_since = None
        aborted_for, self._abort_reason = self._abort_reason, None
        if aborted_for is not None:
            reason = aborted_for  # _abort has logged it
        elif isinstance(exc, Mapping):  # panoramisk passes the Shutdown event itself
            reason = "Asterisk is shutting down"
        else:
            reason = f"connection lost{f': {exc}' if exc else ''}"
        if not self._login_rejected:  # keep "login rejected" as the reason, not its hang-up
            if aborted_for is None and (was_connected or reason != self.last_error):
                log.warning("AMI %s; reconnecting in %gs", reason,
                            self.settings.reconnect_delay_seconds)
            self.last_error = reason
        self._fail_inflight(f"AMI {reason}")
        if self._manager is not None:
            self._manager.awaiting_actions.clear()

    def _fail_inflight(self, reason: str) -> None:
        for future in list(self._inflight):
            if not future.done():
                future.set_exception(AmiError(reason))
