"""The async engine, built from the same DatabaseSettings the rest of the service reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ntpd_ivr.settings import DatabaseSettings


def make_engine(settings: DatabaseSettings) -> AsyncEngine:
    statement_ms = int(settings.statement_timeout_seconds * 1000)
    connect_args: dict[str, Any] = {
        "timeout": settings.connect_timeout_seconds,
        "server_settings": {"statement_timeout": str(statement_ms)},
        # statement_timeout is enforced by the server; a server that stops answering
        # (frozen, network gone) needs a client-side bound too.
        "command_timeout": settings.statement_timeout_seconds
        + settings.connect_timeout_seconds,
    }
    url = make_url(settings.url)
    hosts = multiple_hosts(url)
    if hosts:
        return create_async_engine(
            url, pool_pre_ping=True,
            async_creator=each_host(url, hosts, connect_args))
    return create_async_engine(
        settings.url,
        pool_pre_ping=True,  # a restarted PostgreSQL leaves dead pooled connections behind
        connect_args=connect_args,
    )


def multiple_hosts(url: URL) -> list[tuple[str, int]]:
    """The (host, port) pairs of a multi-host URL (`?host=h1:p1&host=h2:p2`, the PostgreSQL
    pair of docs/ha.md), or [] for a URL with one host."""
    given = url.query.get("host")
    if not isinstance(given, tuple) or len(given) < 2:
        return []
    pairs = []
    for entry in given:
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"database.url: host={entry!r} needs host:port")
        pairs.append((host, int(port)))
    return pairs


def each_host(url: URL, hosts: list[tuple[str, int]],
              connect_args: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
    """Connect to each host in turn, each with the whole connect timeout, and keep the
    first that matches target_session_attrs (read-write: the primary). asyncpg's own
    multi-host connect gives all hosts one timeout together: a dead machine that does not
    answer at all (no RST; a powered-off host on a real network) would use it up on the
    first host and the primary behind it would never be tried."""
    attrs = str(url.query.get("target_session_attrs", "read-write"))

    async def connect() -> Any:
        last: BaseException | None = None
        for host, port in hosts:
            try:
                return await asyncpg.connect(
                    host=host, port=port, user=url.username, password=url.password,
                    database=url.database, target_session_attrs=attrs, **connect_args)
            except (OSError, TimeoutError, asyncpg.PostgresError,
                    asyncpg.TargetServerAttributeNotMatched) as exc:
                last = exc
        assert last is not None
        raise last

    return connect
