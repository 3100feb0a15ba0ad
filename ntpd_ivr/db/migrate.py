"""Run the alembic migrations from Python (the service at start-up, tests, `make`).

These are synchronous: alembic's env.py calls asyncio.run() itself. Call them before the
service's event loop starts, or from it with ``await asyncio.to_thread(upgrade, url)``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

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


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(_config(url), revision)
