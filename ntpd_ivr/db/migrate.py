"""Run the alembic migrations from Python (the service at start-up, tests, `make`).

These are synchronous: alembic's env.py calls asyncio.run() itself. Call them before the
service's event loop starts, or from it with ``await asyncio.to_thread(upgrade, url)``.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _config(url: str) -> Config:
    if _in_event_loop():
        raise RuntimeError("alembic runs its own event loop: call this via "
                           "asyncio.to_thread() or before the event loop starts")
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.parent / "migrations"))
    # Through attributes, not set_main_option: ConfigParser would read '%' in a password
    # as interpolation.
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head", *, runtime_role: str | None = None) -> None:
    """Migrate as the schema's owner (`url`); then, given the controller's own role, give
    it what it needs and no more (`grant_runtime`)."""
    command.upgrade(_config(url), revision)
    if runtime_role is not None:
        grant_runtime(url, runtime_role)


_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def runtime_grants(role: str) -> list[str]:
    """The runtime role's rights, given by the tables' owner: reading and writing rows,
    no DDL; on the audit trail only INSERT and SELECT, so that an entry, once written,
    cannot be changed or removed by the controller (or by whoever has its password)."""
    if not _ROLE_NAME.fullmatch(role):
        raise ValueError(f"runtime role {role!r}: use a-z 0-9 _")
    return [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_events FROM {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}",
    ]


def grant_runtime(url: str, role: str) -> None:
    """Apply `runtime_grants` as the owner at `url` (after every upgrade: tables that a
    migration added get their rights too)."""
    statements = runtime_grants(role)

    async def run() -> None:
        engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 10})
        try:
            async with engine.begin() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    if _in_event_loop():
        raise RuntimeError("grant_runtime runs its own event loop: call it via "
                           "asyncio.to_thread() or before the event loop starts")
    asyncio.run(run())


def downgrade(url: str, revision: str) -> None:
    command.downgrade(_config(url), revision)
