"""Bearer tokens for machine clients of /api/v1 (`ntpd-ivr token create|list|revoke`).

A token is 256 random bits shown once at creation; the database keeps only its SHA-256.
Each token carries a role (the web roles of ntpd_ivr/web/auth.py) and, for role agency,
the agency it acts for. Creating and revoking are audited in the same transaction.
Tokens are not browser sessions: a request with `Authorization: Bearer` is judged by its
token alone, never by a cookie it may also carry.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.api.tables import ApiToken
from ntpd_ivr.audit.trail import Entry, record
from ntpd_ivr.clock import utcnow
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.web.auth import ROLES, validate_name, validate_scope

TOKEN_PREFIX = "ntpd_"
MAX_TOKEN_CHARS = 128


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a web session's user or a token."""
    name: str
    role: str
    agency: str = ""
    kind: str = "session"  # session | token


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    role: str
    agency: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    async def create(self, name: str, role: str, agency: str, actor: str) -> tuple[int, str]:
        """A new token: (its id, the secret to give the client; it is not kept)."""
        validate_name(name)
        if role not in ROLES:
            raise ConfigError(f"role {role!r}: must be one of {', '.join(ROLES)}")
        validate_scope(role, agency)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        async with self.engine.begin() as conn:
            token_id = (await conn.execute(insert(ApiToken).values(
                name=name, role=role, agency=agency, token_hash=digest(secret),
                created_at=now, created_by=actor).returning(ApiToken.id))).scalar_one()
            await record(conn, Entry(now, actor, "token.create", "api_token", str(token_id),
                                     {"name": name, "role": role, "agency": agency}))
        return token_id, secret

    async def all(self) -> list[TokenInfo]:
        t = ApiToken.__table__
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.c.id, t.c.name, t.c.role, t.c.agency,
                                             t.c.created_at, t.c.created_by, t.c.revoked_at)
                                      .order_by(t.c.id))
            return [TokenInfo(*row) for row in rows]

    async def revoke(self, name_or_id: str, actor: str) -> list[int]:
        """Revoke the live tokens of that name (or that id); returns the ids revoked."""
        t = ApiToken.__table__
        match = (t.c.id == int(name_or_id)) if name_or_id.isdigit() else (t.c.name == name_or_id)
        now = self.clock()
        async with self.engine.begin() as conn:
            ids = list((await conn.execute(
                update(ApiToken).where(match, t.c.revoked_at.is_(None)).values(revoked_at=now)
                .returning(t.c.id))).scalars())
            for token_id in ids:
                await record(conn, Entry(now, actor, "token.revoke", "api_token",
                                         str(token_id), {"by": name_or_id}))
        return ids

    async def authenticate(self, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > MAX_TOKEN_CHARS:
            return None
        t = ApiToken.__table__
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.c.name, t.c.role, t.c.agency).where(
                t.c.token_hash == digest(secret), t.c.revoked_at.is_(None)))).first()
        return None if row is None else Principal(row.name, row.role, row.agency, "token")
