"""The async engine, built from the same DatabaseSettings the rest of the service reads."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ntpd_ivr.settings import DatabaseSettings


def make_engine(settings: DatabaseSettings) -> AsyncEngine:
    statement_ms = int(settings.statement_timeout_seconds * 1000)
    return create_async_engine(
        settings.url,
        pool_pre_ping=True,  # a restarted PostgreSQL leaves dead pooled connections behind
        connect_args={
            "timeout": settings.connect_timeout_seconds,
            "server_settings": {"statement_timeout": str(statement_ms)},
            # statement_timeout is enforced by the server; a server that stops answering
            # (frozen, network gone) needs a client-side bound too.
            "command_timeout": settings.statement_timeout_seconds
            + settings.connect_timeout_seconds,
        },
    )
