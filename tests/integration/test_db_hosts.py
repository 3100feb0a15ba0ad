"""The controllers' multi-host URL (db/session.py, docs/ha.md "PostgreSQL"): each host is
tried with the whole connect timeout, so a first host that never answers (a dead machine
on a real network: no RST) does not keep the engine from the PostgreSQL behind it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import make_url, text

from ntpd_ivr.db.session import make_engine, multiple_hosts
from ntpd_ivr.settings import DatabaseSettings
from tests.conftest import RunningPostgres


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a listen backlog that
    nobody accepts from: the handshake completes, no byte ever comes)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def two_hosts(url: str, first: str, second: str) -> str:
    parsed = make_url(url)
    return parsed.set(host=None, port=None).update_query_pairs(
        [("host", first), ("host", second),
         ("target_session_attrs", "read-write")]).render_as_string(hide_password=False)


async def test_a_first_host_that_never_answers_costs_one_timeout_not_the_connection(
        postgres: RunningPostgres, silent_port: int) -> None:
    real = make_url(postgres.url)
    url = two_hosts(postgres.url, f"127.0.0.1:{silent_port}", f"{real.host}:{real.port}")
    assert multiple_hosts(make_url(url)) == [("127.0.0.1", silent_port),
                                             (str(real.host), int(real.port or 0))]
    engine = make_engine(DatabaseSettings(url=url, connect_timeout_seconds=1.0))
    try:
        started = time.monotonic()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        took = time.monotonic() - started
        assert 0.9 <= took < 5.0, took   # one host's timeout, then the real one
    finally:
        await engine.dispose()


async def test_with_no_writable_host_the_engine_raises_the_last_hosts_error(
        silent_port: int) -> None:
    url = two_hosts("postgresql+asyncpg://u:p@/db", f"127.0.0.1:{silent_port}",
                    f"127.0.0.1:{silent_port}")
    engine = make_engine(DatabaseSettings(url=url, connect_timeout_seconds=0.5))
    try:
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()


def test_one_host_is_not_a_multi_host_url() -> None:
    assert multiple_hosts(make_url("postgresql+asyncpg://u:p@127.0.0.1:5432/db")) == []
    assert multiple_hosts(make_url("postgresql+asyncpg://u:p@/db?host=127.0.0.1:5432")) == []
    with pytest.raises(ValueError, match="host:port"):
        multiple_hosts(make_url("postgresql+asyncpg://u:p@/db?host=a&host=b:1"))
