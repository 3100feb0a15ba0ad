"""Alembic environment, async. The URL comes from, in order: the caller
(ntpd_ivr.db.migrate), ``-x url=...``, ``$NTPD_IVR_DATABASE_URL``, the service settings."""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ntpd_ivr.tables import metadata

config = context.config
target_metadata = metadata

# Only from the alembic command line: inside the service this would replace its logging.
if config.cmd_opts is not None and config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = (config.attributes.get("url")
           or context.get_x_argument(as_dictionary=True).get("url")
           or os.environ.get("NTPD_IVR_DATABASE_URL"))
    if url:
        return str(url)
    from ntpd_ivr.settings import load_settings

    return load_settings().database.url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    # No statement_timeout here (unlike the service): building an index on a big table
    # may rightly take minutes.
    engine = create_async_engine(database_url(), poolclass=NullPool,
                                 connect_args={"timeout": 10})
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
