"""Server-side web sessions: a random id in the cookie, a row in PostgreSQL.

A session is valid while its row exists and has not expired, its user is still in the
users file, and that user's password is the one the session was opened with. The role
and agency are read from the users file at each request, never from the session, so a
logout, a removal, a new password or a lower role applies at the next request.

Only a SHA-256 of the id is stored. A found row is kept in memory for `cache_seconds`
(the database is asked at most once per session in that time); a logout through this
controller drops it from memory at once, and the users file is checked at every request,
so the cache delays only a logout made through another controller (two-node layout).

Why not aiohttp-session: its storage API would fit a table of ours, but its cookie name
and `secure` flag are fixed per storage, where ours depend on the request (`__Host-` and
Secure only over HTTPS, which behind a proxy only the trusted proxy can tell); and the CSRF
middleware must see the session id before any handler runs. What remained for it to do
(one cookie, one row) is less code than the adapter.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.audit.trail import Entry, record
from ntpd_ivr.web.auth import Session, User, UserStore, password_stamp
from ntpd_ivr.web.tables import WebSession

log = logging.getLogger(__name__)

SESSION_COOKIE = "ntpd_session"  # "__Host-ntpd_session" over HTTPS (ntpd_ivr/web/client.py)
SUBJECT = "web-session"
MAX_CACHED = 10_000


class SessionsUnavailable(Exception):
    """The session store (the database) cannot be reached: logins and sessions answer 503;
    calls do not depend on it."""


@dataclass(frozen=True)
class StoredSession:
    user: str
    password_stamp: str
    expires: datetime


class SessionStore(Protocol):
    async def add(self, key: str, stored: StoredSession, address: str,
                  audit: Entry) -> None: ...

    async def get(self, key: str) -> StoredSession | None: ...

    async def get_many(self, keys: Sequence[str]) -> dict[str, StoredSession]: ...

    async def remove(self, key: str, audit: Entry | None) -> None: ...

    async def audit(self, entry: Entry) -> None: ...


class DbSessionStore:
    """The `web_sessions` table; each change and its audit row in one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, key: str, stored: StoredSession, address: str,
                  audit: Entry) -> None:
        async with self.engine.begin() as conn:
            # Expired rows go as new ones come (indexed on expires_at): no sweeper task.
            await conn.execute(delete(WebSession).where(WebSession.expires_at < audit.at))
            await conn.execute(insert(WebSession).values(
                id_hash=key, user_name=stored.user, password_stamp=stored.password_stamp,
                address=address, created_at=audit.at, expires_at=stored.expires))
            await record(conn, audit)

    async def get(self, key: str) -> StoredSession | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                select(WebSession.user_name, WebSession.password_stamp, WebSession.expires_at)
                .where(WebSession.id_hash == key))).first()
        return StoredSession(*row) if row is not None else None

    async def get_many(self, keys: Sequence[str]) -> dict[str, StoredSession]:
        """The rows of many sessions in one query (the live sockets' recheck)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                select(WebSession.id_hash, WebSession.user_name, WebSession.password_stamp,
                       WebSession.expires_at).where(WebSession.id_hash.in_(keys)))).all()
        return {row[0]: StoredSession(*row[1:]) for row in rows}

    async def remove(self, key: str, audit: Entry | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(WebSession).where(WebSession.id_hash == key))
            if audit is not None:
                await record(conn, audit)

    async def audit(self, entry: Entry) -> None:
        async with self.engine.begin() as conn:
            await record(conn, entry)


class MemorySessionStore:
    """For protocol tests of the web app without a database; `entries` is its audit."""

    def __init__(self) -> None:
        self.rows: dict[str, StoredSession] = {}
        self.entries: list[Entry] = []

    async def add(self, key: str, stored: StoredSession, address: str,
                  audit: Entry) -> None:
        self.rows[key] = stored
        self.entries.append(audit)

    async def get(self, key: str) -> StoredSession | None:
        return self.rows.get(key)

    async def get_many(self, keys: Sequence[str]) -> dict[str, StoredSession]:
        return {k: self.rows[k] for k in keys if k in self.rows}

    async def remove(self, key: str, audit: Entry | None) -> None:
        self.rows.pop(key, None)
        if audit is not None:
            self.entries.append(audit)

    async def audit(self, entry: Entry) -> None:
        self.entries.append(entry)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, store: SessionStore, users: UserStore, *, hours: float = 12.0,
                 cache_seconds: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.users = users
        self.lifetime = timedelta(hours=hours)
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[StoredSession, float]] = {}

    @property
    def max_age(self) -> int:
        return int(self.lifetime.total_seconds())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def open(self, user: User, address: str) -> str:
        """A new session for a user whose password was just checked; the cookie's value."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        stored = StoredSession(user.name, password_stamp(user), now + self.lifetime)
        try:
            await self.store.add(_key(token), stored, address, Entry(
                now, user.name, "web.login", SUBJECT, user.name,
                {"address": address, "role": user.role}))
        except (SQLAlchemyError, OSError) as exc:
            raise SessionsUnavailable(f"cannot store the session: {exc}") from exc
        return token

    async def resolve(self, token: str) -> Session | None:
        """The session of this cookie, as the users file says now; None if it is no longer
        valid. Raises SessionsUnavailable when the store cannot say."""
        key = _key(token)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[1] < self.cache_seconds:
            stored: StoredSession | None = cached[0]
        else:
            try:
                stored = await self.store.get(key)
            except (SQLAlchemyError, OSError) as exc:
                raise SessionsUnavailable(f"cannot read the session: {exc}") from exc
            self._remember(key, stored, now)
        if stored is None or stored.expires.timestamp() <= now:
            return None
        self.users.refresh()  # one stat of the users file; read again only if it changed
        user = self.users.users.get(stored.user)
        if user is None or password_stamp(user) != stored.password_stamp:
            return None
        return Session(user.name, user.role, int(stored.expires.timestamp()), user.agency)

    async def prefetch(self, tokens: Iterable[str]) -> None:
        """Read the sessions of many cookies in one query into memory, so that resolving
        each of them next asks the store nothing: the live sockets' recheck (issue 26),
        one query every few seconds for all the screens instead of one per screen. Raises
        SessionsUnavailable when the store cannot say."""
        now = self._clock()
        keys = sorted({_key(t) for t in tokens if t} - {
            k for k, (_, at) in self._cache.items() if now - at < self.cache_seconds})
        if not keys:
            return
        try:
            found = await self.store.get_many(keys)
        except (SQLAlchemyError, OSError) as exc:
            raise SessionsUnavailable(f"cannot read the sessions: {exc}") from exc
        for key in keys:  # one not found is forgotten: resolving it asks (and ends it)
            self._remember(key, found.get(key), now)

    def _remember(self, key: str, stored: StoredSession | None, now: float) -> None:
        if stored is None:
            self._cache.pop(key, None)
            return
        if len(self._cache) >= MAX_CACHED:
            self._cache = {k: v for k, v in self._cache.items()
                           if now - v[1] < self.cache_seconds}
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
        self._cache[key] = (stored, now)

    async def close(self, token: str, address: str) -> str | None:
        """Logout: the row goes, with its audit entry. Returns the user it was for."""
        key = _key(token)
        self._cache.pop(key, None)
        try:
            stored = await self.store.get(key)
            audit = (Entry(self._now(), stored.user, "web.logout", SUBJECT, stored.user,
                           {"address": address}) if stored is not None else None)
            await self.store.remove(key, audit)
        except (SQLAlchemyError, OSError) as exc:
            raise SessionsUnavailable(f"cannot end the session: {exc}") from exc
        return stored.user if stored is not None else None

    async def login_failed(self, name: str, address: str, reason: str) -> None:
        """Audited; a database that cannot take it is logged, never a reason to let in."""
        # What an anonymous client typed: printable, bounded (PostgreSQL refuses NUL).
        name = "".join(c if c.isprintable() else "?" for c in name[:64]) or "?"
        try:
            await self.store.audit(Entry(self._now(), name, "web.login-failed", SUBJECT,
                                         name, {"address": address, "reason": reason}))
        except (SQLAlchemyError, OSError) as exc:
            log.error("failed web login for %r from %s not audited: %s", name, address, exc)
