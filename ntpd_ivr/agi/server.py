"""Our asyncio FastAGI server: one task per call, every read bounded, every session ends.

panoramisk.fast_agi is not used: it freezes the loop on a client that closes before the
headers, takes the unsolicited HANGUP line for a reply and desyncs on multi-line 520s.

Only the configured peers get a session (ntpd_ivr/agi/peers.py): a connection from an
address outside `agi.allow` is aborted in the accept callback itself (no task, no read,
no await); with `agi.secret` set, a session whose NTPD_AGI_SECRET is not the secret ends
before its handler runs; and `on_session` may refuse one (a second session for a call
that already had one). Refusals are logged with the peer's address and counted
(`refused`, on /metrics); the caller of a refused session goes to the dialplan's
fallback queue, as with a controller that is down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from ntpd_ivr.agi.channel import AgiChannel
from ntpd_ivr.agi.peers import (
    REFUSED_ADDRESS,
    REFUSED_DUPLICATE,
    REFUSED_REASONS,
    REFUSED_SECRET,
    SECRET_VARIABLE,
    PeerPolicy,
    describe,
)
from ntpd_ivr.agi.protocol import AgiRequest, parse_request
from ntpd_ivr.errors import AgiError, AgiHangup, AgiProtocolError
from ntpd_ivr.log import CallLogger
from ntpd_ivr.settings import AgiSettings

logger = logging.getLogger(__name__)

Handler = Callable[[AgiChannel], Awaitable[None]]
# Told of each session that passed the address and secret checks; False refuses it.
SessionGate = Callable[[AgiRequest], bool]

# Asterisk sends ~25 headers plus one per argument (at most 128).
MAX_HEADER_LINES = 256
MAX_HEADER_BYTES = 64 * 1024
LINE_LIMIT = 64 * 1024
CLOSE_TIMEOUT_SECONDS = 1.0
# A refused address is logged once per this long (every refusal is counted): a local
# process that opens connections in a loop must not fill the disk with our log.
REFUSAL_LOG_SECONDS = 60.0
_REFUSAL_LOG_MAX = 1024


class FastAgiServer:
    def __init__(self, settings: AgiSettings, routes: Mapping[str, Handler],
                 on_session: SessionGate | None = None) -> None:
        self._settings = settings
        self._routes = dict(routes)
        self._policy = PeerPolicy.from_settings(settings.allow, settings.secret)
        self._on_session = on_session
        self._refused = dict.fromkeys(REFUSED_REASONS, 0)
        self._refusal_logged: dict[str, float] = {}
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._sessions_total = 0
        self._port = settings.port

    @property
    def port(self) -> int:
        return self._port

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    @property
    def sessions_total(self) -> int:
        return self._sessions_total

    @property
    def refused(self) -> dict[str, int]:
        """Connections and sessions refused since start, by reason (peers.REFUSED_*)."""
        return dict(self._refused)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self._settings.host, self._settings.port, limit=LINE_LIMIT)
        self._port = self._server.sockets[0].getsockname()[1]
        logger.info("FastAGI listening on %s:%d (scripts: %s); peers allowed: %s%s",
                    self._settings.host, self._port, ", ".join(sorted(self._routes)),
                    describe(self._policy.allowed),
                    "; a secret is required" if self._policy.secret else "")

    async def stop(self) -> None:
        """Stop accepting, let live calls finish within the grace period, then cancel them."""
        if self._server is None:
            return
        self._server.close()
        if self._sessions:
            logger.info("FastAGI stopping: waiting for %d live session(s)", len(self._sessions))
            _, pending = await asyncio.wait(set(self._sessions),
                                            timeout=self._settings.shutdown_grace_seconds)
            for task in pending:
                task.cancel()
            if pending:
                logger.warning("FastAGI stopping: cancelled %d session(s)", len(pending))
                await asyncio.wait(pending)
        await self._server.wait_closed()
        self._server = None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not self._policy.allows(peer):
            # Synchronous: nothing of this connection is read, and nothing waits on it.
            writer.transport.abort()
            self._refuse(REFUSED_ADDRESS, peer, "its address is not in agi.allow")
            return
        self._sessions_total += 1
        task = asyncio.create_task(self._session(reader, writer))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            request = await self._read_request(reader, peer)
            if request is not None:
                await self._run(request, reader, writer)
        finally:
            await _close(writer)

    async def _read_request(self, reader: asyncio.StreamReader,
                            peer: object) -> AgiRequest | None:
        lines: list[str] = []
        size = 0
        try:
            async with asyncio.timeout(self._settings.header_timeout_seconds):
                while True:
                    # readline() returns b"" at EOF, so a client that leaves early ends
                    # this loop instead of spinning (panoramisk's freeze).
                    raw = await reader.readline()
                    if not raw.endswith(b"\n"):
                        logger.warning("FastAGI client %s closed before sending its headers",
                                       peer)
                        return None
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if not line:
                        break
                    lines.append(line)
                    size += len(raw)
                    if len(lines) > MAX_HEADER_LINES or size > MAX_HEADER_BYTES:
                        logger.warning("FastAGI client %s sent oversized headers", peer)
                        return None
            return parse_request(lines)
        except TimeoutError:
            logger.warning("FastAGI client %s sent no complete headers within %s s", peer,
                           self._settings.header_timeout_seconds)
        except ValueError as exc:  # a line over the StreamReader limit
            logger.warning("FastAGI client %s sent an oversized header line: %s", peer, exc)
        except AgiProtocolError as exc:
            logger.warning("FastAGI client %s sent bad headers: %s", peer, exc)
        except OSError as exc:
            logger.warning("FastAGI client %s: connection error reading headers: %s", peer, exc)
        return None

    def _refuse(self, reason: str, peer: object, why: str, uniqueid: str = "-") -> None:
        self._refused[reason] += 1
        address = peer[0] if isinstance(peer, tuple) and peer else str(peer)
        now = time.monotonic()
        key = f"{reason}:{address}"
        if now - self._refusal_logged.get(key, -REFUSAL_LOG_SECONDS) < REFUSAL_LOG_SECONDS:
            return
        if len(self._refusal_logged) >= _REFUSAL_LOG_MAX:
            self._refusal_logged.clear()
        self._refusal_logged[key] = now
        logger.warning("FastAGI refused %s: %s (%d refused for this reason since start)",
                       address, why, self._refused[reason], extra={"call_id": uniqueid})

    async def _secret_offered(self, channel: AgiChannel) -> str | None:
        """The session's NTPD_AGI_SECRET, None if unset or not answered in time."""
        try:
            reply = await channel.command(f"GET VARIABLE {SECRET_VARIABLE}",
                                          timeout=self._settings.header_timeout_seconds)
        except (AgiError, OSError):  # AgiTimeout included: a client that never answers
            return None
        return reply.data if reply.result == "1" else None

    async def _admit(self, request: AgiRequest, channel: AgiChannel, peer: object) -> bool:
        if self._policy.secret:
            offered = await self._secret_offered(channel)
            if not self._policy.secret_ok(offered):
                # Neither value is logged: not the one offered, not ours.
                self._refuse(REFUSED_SECRET, peer, f"session {request.uniqueid} did not "
                             f"carry the FastAGI secret ({SECRET_VARIABLE})",
                             request.uniqueid)
                return False
        if self._on_session is not None and not self._on_session(request):
            self._refuse(REFUSED_DUPLICATE, peer, f"a session for call {request.uniqueid} "
                         "was already taken", request.uniqueid)
            return False
        return True

    async def _run(self, request: AgiRequest, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:
        log = CallLogger(logger, request.uniqueid)
        handler = self._routes.get(request.script)
        # One INFO line per call is the handler's (its decision); this one is for debugging.
        log.debug("AGI %s from %s on %s", request.script, request.caller_number,
                 request.channel)
        budget = self._settings.call_budget_seconds
        # Asterisk never times out a FastAGI socket: without this bound a stuck
        # handler would leave a 112 caller in silence.
        deadline = asyncio.timeout(budget)
        try:
            async with AgiChannel(request, reader, writer, self._settings) as channel:
                channel.deadline = deadline  # a handler may extend it (extend_budget)
                async with deadline:
                    # Admitted first: only a trusted peer's mistakes reach the log.
                    if not await self._admit(request, channel,
                                             writer.get_extra_info("peername")):
                        return
                    if handler is None:
                        # No variable gets set, so the dialplan takes its fallback path.
                        log.error("no handler for AGI script %r (channel %s)",
                                  request.script, request.channel)
                        return
                    await handler(channel)
        except TimeoutError:
            if not deadline.expired():
                log.exception("AGI %s handler failed", request.script)
            else:
                log.error("AGI %s exceeded its %s s call budget; closing the session",
                          request.script, budget)
        except AgiHangup as exc:
            log.info("AGI %s ended by hang-up: %s", request.script, exc)
        except Exception:
            log.exception("AGI %s handler failed", request.script)
        else:
            log.debug("AGI %s finished", request.script)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        writer.transport.abort()
