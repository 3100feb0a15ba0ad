"""The web_sessions table (migration 0013) on a real PostgreSQL: a session row and its
audit row in one transaction, only the id's hash stored, and a database that goes away
turning logins into SessionsUnavailable (the app's 503), not into a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.settings import DatabaseSettings
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.sessions import DbSessionStore, Sessions, SessionsUnavailable
from ntpd_ivr.web.tables import WebSession

if TYPE_CHECKING:
    from tests.conftest import RunningPostgres


@pytest.fixture
def users(tmp_path: Path) -> UserStore:
    store = UserStore(tmp_path / "users.toml")
    store.put("budi", "supervisor", "budi-password")
    return store


async def test_sessions_live_in_postgres_with_their_audit(
        postgres_factory: Callable[[], Awaitable[RunningPostgres]], users: UserStore) -> None:
    private = await postgres_factory()
    engine = make_engine(DatabaseSettings(url=private.url, connect_timeout_seconds=1))
    sessions = Sessions(DbSessionStore(engine), users, cache_seconds=0)
    try:
        token = await sessions.open(users.users["budi"], "127.0.0.5")
        await sessions.login_failed("budi", "127.0.0.6", "bad-credentials")
        async with engine.connect() as conn:
            rows = (await conn.execute(select(WebSession.id_hash, WebSession.user_name))).all()
            actions = (await conn.execute(select(AuditEvent.action, AuditEvent.actor)
                                          .order_by(AuditEvent.id))).all()
        assert len(rows) == 1 and rows[0].user_name == "budi" and token not in rows[0].id_hash
        assert [tuple(a) for a in actions] == [("web.login", "budi"),
                                               ("web.login-failed", "budi")]
        assert (await sessions.resolve(token)) is not None
        await sessions.close(token, "127.0.0.5")
        assert await sessions.resolve(token) is None

        cached = Sessions(DbSessionStore(engine), users, cache_seconds=60)
        kept = await cached.open(users.users["budi"], "127.0.0.5")
        assert await cached.resolve(kept) is not None
        await asyncio.to_thread(private.server.stop)
        with pytest.raises(SessionsUnavailable):
            await cached.open(users.users["budi"], "127.0.0.5")
        with pytest.raises(SessionsUnavailable):
            await cached.resolve("not-cached")
        assert await cached.resolve(kept) is not None  # in memory for cache_seconds
        await cached.login_failed("budi", "127.0.0.6", "bad-credentials")  # logged only
    finally:
        await engine.dispose()
