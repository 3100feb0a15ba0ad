"""One FastAGI session: typed AGI commands over the socket Asterisk opened for a call."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from types import TracebackType

from ntpd_ivr.agi.protocol import HANGUP_LINE, AgiReply, AgiRequest, ReplyAssembler
from ntpd_ivr.errors import AgiError, AgiHangup, AgiProtocolError, AgiTimeout
from ntpd_ivr.log import CallLogger
from ntpd_ivr.settings import AgiSettings

logger = logging.getLogger(__name__)

_VARIABLE_NAME = re.compile(r'[^\s"\\]+')
# MSet splits its argument on commas and unquotes it: values without those characters.
_MSET_SAFE = re.compile(r'[^,"\\\s\x00-\x1f]*')


def quote(value: str) -> str:
    """Quote one AGI argument the way res_agi.c's parse_args() reads it back."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiChannel:
    """Use as `async with AgiChannel(...)`: the block runs the session's single reader."""

    def __init__(self, request: AgiRequest, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, settings: AgiSettings) -> None:
        self.request = request
        self.log = CallLogger(logger, request.uniqueid)
        self._reader = reader
        self._writer = writer
        self._settings = settings
        self._lock = asyncio.Lock()
        self._hangup = asyncio.Event()
        self._waiter: asyncio.Future[AgiReply] | None = None
        # Once replies may be out of step with commands, every later command fails.
        self._broken: AgiError | None = None
        self._read_task: asyncio.Task[None] | None = None
        # The session's call budget (the server's asyncio.timeout), for extend_budget.
        self.deadline: asyncio.Timeout | None = None

    def extend_budget(self, seconds: float | None = None) -> None:
        """Hold this call at least `seconds` more (None: a whole call budget again), for a
        long prompt the caller listens to (surge mode's announcement). Never shortens it."""
        deadline = self.deadline
        if deadline is None or deadline.when() is None:
            return
        limit = self._settings.call_budget_seconds if seconds is None else seconds
        when = deadline.when()
        assert when is not None
        deadline.reschedule(max(when, asyncio.get_running_loop().time() + limit))

    @property
    def hung_up(self) -> bool:
        return self._hangup.is_set()

    async def wait_hangup(self) -> None:
        await self._hangup.wait()

    async def __aenter__(self) -> AgiChannel:
        self._read_task = asyncio.create_task(self._read_loop(),
                                              name=f"agi-reader-{self.request.uniqueid}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._read_task is not None:
            self._read_task.cancel()
            # wait() rather than await: the reader's own CancelledError is not ours to raise.
            await asyncio.wait([self._read_task])

    async def command(self, text: str,
                      timeout: float | None = None) -> AgiReply:  # noqa: ASYNC109
        """Send one AGI command and return its 200 reply; `timeout` bounds the reply."""
        if "\n" in text or "\r" in text:
            raise ValueError(f"AGI command must be one line: {text!r}")
        limit = self._settings.reply_timeout_seconds if timeout is None else timeout
        async with self._lock:
            if self._broken is not None:
                raise type(self._broken)(str(self._broken))
            waiter: asyncio.Future[AgiReply] = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                async with asyncio.timeout(limit):
                    self._writer.write(text.encode() + b"\n")
                    await self._writer.drain()
                    reply = await waiter
            except TimeoutError:
                self._break(AgiTimeout(f"an earlier command timed out: {text!r}"))
                raise AgiTimeout(f"no reply to {text!r} within {limit} s") from None
            except OSError as exc:
                self._break(AgiHangup(f"connection lost: {exc}"))
                raise AgiHangup(f"connection lost sending {text!r}: {exc}") from exc
            except asyncio.CancelledError:
                self._break(AgiTimeout(f"cancelled while waiting for the reply to {text!r}"))
                raise
            finally:
                self._waiter = None
                if waiter.done() and not waiter.cancelled():
                    waiter.exception()  # mark retrieved: no "never retrieved" noise
        if reply.code == 511:
            self._hangup.set()
            raise AgiHangup(f"{text!r}: {reply.text}")
        if not reply.ok:
            raise AgiProtocolError(f"{text!r}: {reply.text}")
        return reply

    async def answer(self) -> None:
        reply = await self.command("ANSWER")
        if reply.result != "0":
            raise AgiError(f"ANSWER failed: {reply.text}")

    async def stream_file(self, path: str, escape_digits: str = "",
                          timeout: float | None = None) -> str:  # noqa: ASYNC109
        """Play a prompt; return the escape digit pressed, or "" if it played to the end.
        `timeout` bounds the reply (a prompt longer than the usual reply timeout)."""
        reply = await self.command(f"STREAM FILE {quote(path)} {quote(escape_digits)}",
                                   timeout)
        code = _int_result(reply)
        if code < 0:
            # Asterisk sends -1 both for a missing file and for a hang-up during playback.
            raise AgiError(f"STREAM FILE {path} failed (missing file or hang-up): {reply.text}")
        return chr(code) if code else ""

    async def get_data(self, path: str, timeout_ms: int, max_digits: int,
                       timeout: float | None = None) -> tuple[str, bool]:  # noqa: ASYNC109
        """Play a prompt and collect digits; return (digits, timed_out). `timeout` bounds
        the reply (a prompt longer than the usual reply timeout)."""
        reply = await self.command(f"GET DATA {quote(path)} {int(timeout_ms)} {int(max_digits)}",
                                   timeout)
        if reply.result == "-1":
            raise AgiError(f"GET DATA {path} failed (missing file or hang-up): {reply.text}")
        return reply.result or "", reply.data == "timeout"

    async def set_variable(self, name: str, value: str) -> None:
        if not _VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"bad channel variable name: {name!r}")
        await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def set_variables(self, variables: Mapping[str, str]) -> None:
        """Set several variables in one round trip (MSet), in order; one SET VARIABLE each
        when a value holds what MSet cannot carry.

        Not pipelined SET VARIABLEs: res_agi reads commands with fgets() on a buffered
        FILE after polling the socket, so a second command already in that buffer waits
        for the next packet that never comes.
        """
        for name in variables:
            if not _VARIABLE_NAME.fullmatch(name):
                raise ValueError(f"bad channel variable name: {name!r}")
        if all(_MSET_SAFE.fullmatch(value) for value in variables.values()):
            pairs = ",".join(f"{name}={value}" for name, value in variables.items())
            reply = await self.command(f"EXEC MSet {quote(pairs)}")
            if reply.result != "0":
                raise AgiError(f"MSet failed: {reply.text}")
            return
        for name, value in variables.items():
            await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        """The variable's value, or None when it is not set."""
        if not _VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"bad channel variable name: {name!r}")
        reply = await self.command(f"GET VARIABLE {name}")
        return reply.data if reply.result == "1" else None

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {quote(message)} {int(level)}")

    async def _read_loop(self) -> None:
        assembler = ReplyAssembler()
        try:
            while True:
                raw = await self._reader.readline()
                if not raw.endswith(b"\n"):
                    raise AgiHangup("Asterisk closed the connection")
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line == HANGUP_LINE and not assembler.in_progress:
                    self.log.info("caller hung up")
                    self._hangup.set()
                    continue
                reply = assembler.feed(line)
                if reply is None:
                    continue
                if reply.code < 200:
                    # Provisional, e.g. GOSUB's `100 result=0 Trying...`: the final reply follows.
                    continue
                if self._waiter is not None and not self._waiter.done():
                    self._waiter.set_result(reply)
                elif self._broken is None:
                    raise AgiProtocolError(f"reply with no command waiting: {reply.text!r}")
        except AgiError as exc:
            self._fail(exc)
        except ValueError as exc:  # StreamReader: line longer than its limit
            self._fail(AgiProtocolError(f"unreadable reply: {exc}"))
        except OSError as exc:
            self._fail(AgiHangup(f"connection lost: {exc}"))

    def _break(self, exc: AgiError) -> None:
        if self._broken is None:
            self._broken = exc

    def _fail(self, exc: AgiError) -> None:
        if isinstance(exc, AgiHangup):
            self._hangup.set()
        else:
            self.log.warning("AGI session unusable: %s", exc)
        self._break(exc)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)


def _int_result(reply: AgiReply) -> int:
    try:
        return int(reply.result or "")
    except ValueError:
        raise AgiProtocolError(f"expected a numeric result: {reply.text!r}") from None
