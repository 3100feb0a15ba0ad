"""Shared fixtures: a real, throwaway PostgreSQL on a free loopback port.

Missing PostgreSQL binaries make these fixtures fail (StackError says what to install),
never skip: a test run that silently left out the database would prove nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.db import migrate
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.settings import DatabaseSettings
from ntpd_ivr.stack.ports import free_port
from ntpd_ivr.stack.postgres import LocalPostgres

# The live stack's fixtures (stack, controller, running_controller, takers), defined once
# here so that tests/e2e and tests/browser share one Asterisk and one controller.
from tests.stack_fixtures import controller, running_controller, stack, takers  # noqa: F401


@dataclass(frozen=True)
class RunningPostgres:
    url: str
    server: LocalPostgres


@pytest.fixture(scope="session")
def postgres_base() -> Iterator[Path]:
    # Not tmp_path_factory: pytest keeps /tmp/pytest-of-<user> at mode 0700 (and resets it
    # at every session start), so the postgres user that runs the server cannot reach it.
    base = Path(tempfile.mkdtemp(prefix="ntpd-ivr-pg-", dir="/tmp"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _start_postgres(base: Path, name: str) -> LocalPostgres:
    server = LocalPostgres(base / name, free_port(), secrets.token_urlsafe(16))
    server.init()
    server.start()
    try:
        # In a thread of its own: alembic runs its own event loop, and a session fixture can
        # be first set up while one runs in this thread (Playwright's sync API runs its loop
        # here once a browser test started).
        with ThreadPoolExecutor(max_workers=1) as worker:
            worker.submit(migrate.upgrade, server.url).result()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def postgres(postgres_base: Path) -> Iterator[RunningPostgres]:
    """One PostgreSQL for the session, migrated to head. Sync: no event loop to share."""
    server = _start_postgres(postgres_base, "shared")
    try:
        yield RunningPostgres(server.url, server)
    finally:
        server.stop()


@pytest.fixture
def postgres_factory(
        postgres_base: Path) -> Iterator[Callable[[], Awaitable[RunningPostgres]]]:
    """Private PostgreSQL instances, for tests that stop the server under the code."""
    started: list[LocalPostgres] = []

    async def factory() -> RunningPostgres:
        server = await asyncio.to_thread(_start_postgres, postgres_base,
                                         f"private-{secrets.token_hex(4)}")
        started.append(server)
        return RunningPostgres(server.url, server)

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
async def db_engine(postgres: RunningPostgres) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(DatabaseSettings(url=postgres.url))
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE calls"))
    yield engine
    await engine.dispose()
