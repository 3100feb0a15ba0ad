"""Recordings over HTTP without a database: who may ask, and that nothing but a call's own
recording can ever be named (the played file and its audit: tests/browser/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from ntpd_ivr.recordings import http as recordings_http
from ntpd_ivr.recordings.service import RecordingService
from ntpd_ivr.settings import RecordingsSettings
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import LiveHub
from tests.protocol.webtools import Client, log_in, recent_calls, serving_web


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    folder = tmp_path / "recordings"
    folder.mkdir()
    (folder / "1795849770.0.wav").write_bytes(b"RIFF....WAVE")
    (tmp_path / "secret.wav").write_bytes(b"not a recording")
    # The engine is never connected: these requests end before the audit.
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    service = RecordingService(RecordingsSettings(dir=str(folder)), engine)

    def domains(users: UserStore, hub: LiveHub) -> tuple[Any, ...]:
        return (recordings_http.routes(service, recent_calls),)

    async with serving_web(tmp_path, domains=domains) as test_client:
        yield test_client
    await engine.dispose()


async def test_only_supervisors_may_list_or_play(client: Client) -> None:
    assert (await client.get("/recordings/1795849770.0.wav")).status == 401
    page = await client.get("/recordings", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/login"
    await log_in(client, "ani")  # a call-taker
    assert (await client.get("/recordings/1795849770.0.wav")).status == 403


@pytest.mark.parametrize("path", [
    "/recordings/1795849770.1.wav",  # no such recording
    "/recordings/..%2Fsecret.wav", "/recordings/secret.wav", "/recordings/1.2.wav.wav",
    "/recordings/%2E%2E/secret.wav"])
async def test_nothing_but_a_calls_recording_can_be_named(client: Client, path: str) -> None:
    await log_in(client, "budi")
    reply = await client.get(path)
    assert reply.status == 404, path


async def test_the_list_shows_the_calls_that_have_a_recording(client: Client) -> None:
    await log_in(client, "budi")
    page = await client.get("/recordings")
    text = await page.text()
    assert page.status == 200 and 'src="/recordings/1795849770.0.wav"' in text
    assert "Setiap pemutaran dicatat" in text
