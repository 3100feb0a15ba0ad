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
from typing import Any

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

# `make test` runs two pytest-xdist workers (`-n 2 --dist loadscope`, with the scopes below).
# Every test of the live stack (one Asterisk, its PostgreSQL, Kannel and controller; the
# browser tests' Chromium; the HA stacks) is in one scope: one worker runs them all, in the
# order a plain `pytest` runs them, so they share the stack as before. The tests in FREE
# (each with its own servers on free ports; each worker has its own PostgreSQL from the
# fixtures below) run on the other worker meanwhile, a module at a time, so that a module's
# fixtures are set up once. The scheduler sees only test ids, so FREE is a list of paths;
# a test there that uses the live stack fails at its setup (pytest_runtest_setup).
LIVE_SCOPE = "live-stack"
FREE = ("tests/unit/", "tests/protocol/", "tests/integration/",
        "tests/security/test_alerts_attacks.py", "tests/security/test_api_errors.py",
        "tests/security/test_api_fuzz.py", "tests/security/test_eido_attacks.py",
        "tests/security/test_els_receiver.py", "tests/security/test_location_link.py",
        "tests/security/test_transfer_receiver.py")


def _scope(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    return module if module.startswith(FREE) else LIVE_SCOPE


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LiveStackScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return LiveStackScheduling(config, log)


@pytest.hookimpl(tryfirst=True)  # before the fixtures: the live stack is not started
def pytest_runtest_setup(item: pytest.Item) -> None:
    if (hasattr(item.config, "workerinput") and "stack" in item.fixturenames
            and _scope(item.nodeid) != LIVE_SCOPE):
        pytest.fail(f"{item.nodeid} uses the live stack but its module is in tests/conftest.py "
                    "FREE: take it out of FREE, so it runs on the live stack's worker",
                    pytrace=False)


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
