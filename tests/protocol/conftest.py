"""The fake Asterisk side of a FastAGI connection, and the real FastAgiServer on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from ntpd_ivr.agi.server import FastAgiServer, Handler
from ntpd_ivr.settings import AgiSettings
from tests.waiting import eventually

SETTINGS = AgiSettings(host="127.0.0.1", port=0, call_budget_seconds=5.0,
                       header_timeout_seconds=3.0, reply_timeout_seconds=3.0,
                       shutdown_grace_seconds=1.0)
STEP = 2.0  # how long the fake Asterisk waits for anything the server should send


def asterisk_headers(port: int, script: str, uniqueid: str, args: tuple[str, ...]) -> bytes:
    """The session header block as Asterisk 22 res_agi.c writes it."""
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:{port}/{script}",
        "agi_channel: PJSIP/trunk-telkom-00000001",
        "agi_language: id",
        "agi_type: PJSIP",
        f"agi_uniqueid: {uniqueid}",
        "agi_version: 22.10.1",
        "agi_callerid: 081234567890",
        "agi_calleridname: unknown",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        "agi_dnid: 112",
        "agi_rdnis: unknown",
        "agi_context: from-trunk",
        "agi_extension: 112",
        "agi_priority: 2",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        "agi_threadid: 140234567890",
        *(f"agi_arg_{n}: {arg}" for n, arg in enumerate(args, 1)),
    ]
    return ("\n".join(lines) + "\n\n").encode()


class FakeAsterisk:
    """One FastAGI connection from Asterisk's side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def expect(self, command: str) -> None:
        line = await asyncio.wait_for(self.reader.readline(), STEP)
        assert line.decode() == command + "\n"

    def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\n" for line in lines).encode())

    async def closed(self, within: float = STEP) -> None:
        """The server closes the socket without sending anything more."""
        assert await asyncio.wait_for(self.reader.read(), within) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


Dial = Callable[..., Awaitable[FakeAsterisk]]


@pytest.fixture
async def dial() -> AsyncIterator[Dial]:
    """Open fake Asterisk connections; all are closed at the end of the test."""
    opened: list[FakeAsterisk] = []

    async def connect(port: int, script: str = "emergency-ivr", uniqueid: str = "1732771200.1",
                      args: tuple[str, ...] = ("id",), headers: bool = True) -> FakeAsterisk:
        fake = FakeAsterisk(*await asyncio.open_connection("127.0.0.1", port))
        opened.append(fake)
        if headers:
            fake.send(asterisk_headers(port, script, uniqueid, args).decode()[:-1])
        return fake

    yield connect
    for fake in opened:
        await fake.close()


@contextlib.asynccontextmanager
async def serving(routes: Mapping[str, Handler], **settings: Any) -> AsyncIterator[FastAgiServer]:
    server = FastAgiServer(dataclasses.replace(SETTINGS, **settings), routes)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def until(condition: Callable[[], bool]) -> None:
    """Poll server state that has no event to wait on (a generous deadline)."""
    await eventually(condition, "the server's state")
