"""The FastAGI server's gate (ntpd_ivr/agi/peers.py), on a free port: a peer outside
`agi.allow` is closed before anything is read, a session without the secret ends before
its handler, a second session for one call is refused; each is counted."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from ntpd_ivr.agi.channel import AgiChannel
from ntpd_ivr.agi.server import FastAgiServer

from .conftest import SETTINGS, STEP, Dial, FakeAsterisk, asterisk_headers, until


def _server(calls: list[str], **settings: object) -> FastAgiServer:
    async def ivr(channel: AgiChannel) -> None:
        calls.append(channel.request.uniqueid)

    return FastAgiServer(dataclasses.replace(SETTINGS, **settings), {"emergency-ivr": ivr},
                         on_session=lambda request: request.uniqueid != "refuse.me")


async def test_an_address_outside_the_list_is_closed_unread_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    server = _server(calls, allow="127.0.0.1")
    await server.start()
    try:
        for _ in range(3):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, local_addr=("127.0.0.66", 0))
            writer.write(asterisk_headers(server.port, "emergency-ivr", "1.1", ()))
            try:  # aborted: a reset, or an empty read; never a byte from the server
                sent = await asyncio.wait_for(reader.read(), STEP)
            except ConnectionError:
                sent = b""
            assert sent == b""
            writer.close()
        assert server.refused == {"address": 3, "secret": 0, "duplicate": 0}
        assert server.sessions_total == 0 and calls == []
        # One log line per address per minute, however many connections.
        refusals = [r for r in caplog.records if "FastAGI refused 127.0.0.66" in r.message]
        assert len(refusals) == 1
        # The server still serves an allowed peer.
        fake = FakeAsterisk(*await asyncio.open_connection("127.0.0.1", server.port))
        fake.send(asterisk_headers(server.port, "emergency-ivr", "1.2", ()).decode()[:-1])
        await fake.closed()
        await fake.close()
        assert calls == ["1.2"]
    finally:
        await server.stop()


async def test_with_a_secret_the_session_must_carry_it(
        dial: Dial, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    calls: list[str] = []
    server = _server(calls, secret="s3cret")
    await server.start()
    try:
        for answer in ("200 result=0", "200 result=1 (wrong)", "510 Invalid or unknown"):
            asterisk = await dial(server.port, uniqueid="2.1")
            await asterisk.expect("GET VARIABLE NTPD_AGI_SECRET")
            asterisk.send(answer)
            await asterisk.closed()
        silent = await dial(server.port, uniqueid="2.2")  # never answers: bounded
        await silent.expect("GET VARIABLE NTPD_AGI_SECRET")
        await silent.closed(within=SETTINGS.header_timeout_seconds + STEP)
        assert calls == []
        assert server.refused["secret"] == 4
        good = await dial(server.port, uniqueid="2.3")
        await good.expect("GET VARIABLE NTPD_AGI_SECRET")
        good.send("200 result=1 (s3cret)")
        await good.closed()
        assert calls == ["2.3"]
        assert "s3cret" not in caplog.text and "wrong" not in caplog.text
    finally:
        await server.stop()


async def test_a_session_the_gate_refuses_never_reaches_its_handler(dial: Dial) -> None:
    calls: list[str] = []
    server = _server(calls)
    await server.start()
    try:
        asterisk = await dial(server.port, uniqueid="refuse.me")
        await asterisk.closed()
        await until(lambda: server.refused["duplicate"] == 1)
        assert calls == []
    finally:
        await server.stop()
