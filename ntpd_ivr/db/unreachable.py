"""Whether an error means "the database cannot be reached now" (down, failing over to the
other node of the pair, or a connection cut by the old primary's death), as opposed to a
fault in the request or in our code. The API answers the first with 503 and Retry-After,
and the screens retry it (docs/ha.md, "PostgreSQL"); the second stays a 500."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError

# What asyncpg raises when there is no writable server or the connection went away:
# refused/cut (OSError, ConnectionDoesNotExistError), the server going down or not yet up
# (AdminShutdown, CrashShutdown, CannotConnectNow), a node that is no longer primary
# (read-only transaction; no host matching target_session_attrs=read-write).
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.TargetServerAttributeNotMatched,
)


def database_unreachable(exc: BaseException) -> bool:
    """True when `exc`, or what it wraps (a DBAPI error's `orig`, causes and contexts),
    says the database is not reachable now."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE):
            return True
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            if isinstance(current.orig, BaseException):
                todo.append(current.orig)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return False
