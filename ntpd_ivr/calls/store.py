"""The database side of call records: one upsert into ``calls``, one insert into
``call_events``, shared by the record keeper and the CDR reconciliation.

Statements are plain SQL built once from the table definitions and run as prepared
statements with asyncpg's ``executemany`` (one round trip per batch, no per-batch SQL
compilation: compiling a multi-row INSERT ... ON CONFLICT per batch was most of the
controller's CPU under load, see docs/performance.md).

Two merge rules, one statement shape:
- ``latest``: what the controller saw live. A non-null field overwrites, a null one keeps
  the column; arrived_at and created_at keep the earliest value, updated_at the latest;
  once ``reconciled`` a row says so for good. An ``unconfirmed`` close does not touch a
  row that has a caller number (AMI or the CDR named the call).
- ``fill``: what the CDR tells after the fact. Only columns still empty are filled, only on
  rows without an end or a disposition, and the row is marked ``reconciled``. A row closed
  as ``unconfirmed`` (calls/confirm.py) counts as unfinished: the CDR proves the call, and
  its end and disposition replace that close.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.calls.tables import Call, CallEvent
from ntpd_ivr.calls.values import (
    CHANGE_FIELDS,
    CUT_BY_NODE_FAILURE,
    CUT_BY_SITE_FAILURE,
    TIME_FIELDS,
    UNCONFIRMED,
    CallStep,
    CallUpdate,
    Record,
)

CALLS = Call.__tablename__
EVENTS = CallEvent.__tablename__
# Columns reconciliation may fill; each only where the row has none yet.
CDR_FILLED = ("linkedid", "caller_number", "trunk", "queue", "arrived_at", "answered_by",
              "ended_at", "disposition")
ROW_COLUMNS = ("uniqueid", "created_at", "updated_at", *CHANGE_FIELDS)

MergeRule = Literal["latest", "fill"]
_UNCONFIRMED = f"'{UNCONFIRMED}'"  # a constant of ours, not an input


def _upsert_sql(rule: MergeRule) -> str:
    values = ", ".join(f"${n}" for n in range(1, len(ROW_COLUMNS) + 1))
    if rule == "latest":
        merged = {name: f"COALESCE(EXCLUDED.{name}, {CALLS}.{name})" for name in CHANGE_FIELDS}
        # LEAST/GREATEST skip NULLs in PostgreSQL: a first arrival time is kept.
        merged["arrived_at"] = f"LEAST({CALLS}.arrived_at, EXCLUDED.arrived_at)"
        # An `unconfirmed` close (calls/confirm.py) ends only a call that AMI and the CDR
        # never named: one whose caller number (theirs alone to write) is still empty. A
        # session that names a real call after a restart cannot close it.
        for name in ("ended_at", "disposition", "hangup_cause_text"):
            merged[name] = (f"CASE WHEN EXCLUDED.disposition = {_UNCONFIRMED} AND "
                            f"{CALLS}.caller_number IS NOT NULL THEN {CALLS}.{name} "
                            f"ELSE {merged[name]} END")
        merged["reconciled"] = f"{CALLS}.reconciled OR EXCLUDED.reconciled"
        merged["created_at"] = f"LEAST({CALLS}.created_at, EXCLUDED.created_at)"
        tail = ""
    else:
        merged = {name: f"COALESCE({CALLS}.{name}, EXCLUDED.{name})" for name in CDR_FILLED}
        for name in ("ended_at", "disposition"):
            merged[name] = (f"CASE WHEN {CALLS}.disposition = {_UNCONFIRMED} THEN "
                            f"EXCLUDED.{name} ELSE {merged[name]} END")
        # ... and the close's note goes with it.
        merged["hangup_cause_text"] = (f"CASE WHEN {CALLS}.disposition = {_UNCONFIRMED} "
                                       f"THEN NULL ELSE {CALLS}.hangup_cause_text END")
        merged["reconciled"] = "TRUE"
        # xmax is 0 on a row this statement inserted, not on one it updated.
        tail = (f" WHERE {CALLS}.ended_at IS NULL OR {CALLS}.disposition IS NULL"
                f" OR {CALLS}.disposition = {_UNCONFIRMED}"
                f" RETURNING ({CALLS}.xmax = 0) AS inserted")
    merged["updated_at"] = f"GREATEST({CALLS}.updated_at, EXCLUDED.updated_at)"
    sets = ", ".join(f"{name} = {expression}" for name, expression in merged.items())
    return (f"INSERT INTO {CALLS} ({', '.join(ROW_COLUMNS)}) VALUES ({values}) "
            f"ON CONFLICT (uniqueid) DO UPDATE SET {sets}{tail}")


UPSERT_LATEST = _upsert_sql("latest")
UPSERT_FILL = _upsert_sql("fill")
INSERT_STEP = (f"INSERT INTO {EVENTS} (uniqueid, at, kind, detail, detail_digest) "
               f"VALUES ($1, $2, $3, $4, $5) "
               f"ON CONFLICT ON CONSTRAINT uq_call_events_step DO NOTHING")
# A call that arrived on a node before that node's Asterisk last started cannot be up on
# it: no Hangup and no CDR row will come. It ends at its last event on record; what it
# was doing then (answered, queued) stays in its columns. When the database itself started
# after that last event and before the node started again, the node and the database were
# down together: the whole site went dark (docs/ha.md, "A site returning"), and the call is
# cut by the site's failure. (A database that failed over to its replica keeps the
# replica's start time: a node failure.) The node's start is known to the second and no
# later than the truth (AMI's uptime), so a database started up to SITE_START_SLACK before
# it counts as "before".
SITE_START_SLACK = "10 seconds"
_SITE_WENT_DARK = (f"(updated_at < pg_postmaster_start_time() AND "
                   f"pg_postmaster_start_time() <= $1 + interval '{SITE_START_SLACK}')")
CLOSE_CUT_CALLS = (f"UPDATE {CALLS} SET ended_at = updated_at, "
                   f"disposition = COALESCE(disposition, CASE WHEN {_SITE_WENT_DARK} "
                   f"THEN $6 ELSE $3 END), reconciled = TRUE, "
                   f"hangup_cause_text = COALESCE(hangup_cause_text, CASE WHEN "
                   f"{_SITE_WENT_DARK} THEN $7 ELSE $4 END) "
                   f"WHERE ended_at IS NULL AND arrived_at < $1 AND uniqueid ~ $2 "
                   f"AND NOT uniqueid = ANY($5::text[]) RETURNING uniqueid")
CUT_CAUSE_TEXT = "the Asterisk node stopped with the call up"
SITE_CUT_CAUSE_TEXT = "the site (its nodes and its database) stopped with the call up"

SELECT_FINISHED = (f"SELECT uniqueid FROM {CALLS} WHERE uniqueid = ANY($1::text[]) "
                   f"AND ended_at IS NOT NULL AND disposition IS NOT NULL "
                   f"AND disposition <> {_UNCONFIRMED}")


def merge_updates(updates: Sequence[CallUpdate]) -> list[dict[str, Any]]:
    """Fold updates into one row per call, with the ``latest`` rule of the upsert.

    Applying the merged rows equals applying the updates one by one, so a batch carries
    many updates of one call as one row.
    """
    rows: dict[str, dict[str, Any]] = {}
    for update in updates:
        row = rows.get(update.uniqueid)
        if row is None:
            row = rows[update.uniqueid] = dict.fromkeys(ROW_COLUMNS)
            row.update(uniqueid=update.uniqueid, created_at=update.at, updated_at=update.at)
        else:
            row["created_at"] = min(row["created_at"], update.at)
            row["updated_at"] = max(row["updated_at"], update.at)
        for name, value in update.changes().items():
            if name == "arrived_at" and row[name] is not None:
                value = min(value, row[name])
            elif name == "reconciled":
                value = value or bool(row[name])
            row[name] = value
    for row in rows.values():
        row["reconciled"] = bool(row["reconciled"])
        for name in (*TIME_FIELDS, "created_at", "updated_at"):
            if row[name] is not None:
                row[name] = datetime.fromtimestamp(row[name], UTC)
    return list(rows.values())


class StepRow(NamedTuple):
    """A call_events row, in INSERT_STEP's column order; detail is canonical JSON text."""

    uniqueid: str
    at: datetime
    kind: str
    detail: str
    detail_digest: str


def step_rows(steps: Sequence[CallStep]) -> list[StepRow]:
    """call_events rows, one per distinct step (a batch may hold a step twice)."""
    rows: dict[tuple[str, str, float, str], StepRow] = {}
    for step in steps:
        detail = step.detail_json()
        digest = hashlib.sha256(detail.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        key = (step.uniqueid, step.kind, step.at, digest)
        if key not in rows:
            rows[key] = StepRow(step.uniqueid, datetime.fromtimestamp(step.at, UTC),
                                step.kind, detail, digest)
    return list(rows.values())


def _as_args(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(row[name] for name in ROW_COLUMNS) for row in rows]


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Any]:
    """The pooled connection's own asyncpg connection, inside one transaction.

    SQLAlchemy's pool still hands it out (pre-ping, statement timeout, JSON codecs), but
    statements go straight to asyncpg: SQLAlchemy never starts a transaction of its own on
    it, so this one is the only one.
    """
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        async with driver.transaction():
            yield driver


async def _apply(pg: Any, records: Sequence[Record]) -> None:
    rows = merge_updates([r for r in records if isinstance(r, CallUpdate)])
    events = step_rows([r for r in records if isinstance(r, CallStep)])
    if events:
        await pg.executemany(INSERT_STEP, events)
    if rows:
        await pg.executemany(UPSERT_LATEST, _as_args(rows))


async def apply_records(engine: AsyncEngine, records: Sequence[Record]) -> None:
    """Apply records in one transaction: updates upserted into ``calls`` by the ``latest``
    rule, steps inserted into ``call_events`` unless already there."""
    async with transaction(engine) as pg:
        await _apply(pg, records)


class RecordStore:
    """apply_records for the record keeper, which applies a batch every fraction of a
    second: on one connection it keeps, instead of a pool checkout and a pre-ping per
    batch. Any failure (or a cancel) drops the connection; the next batch opens a new one,
    so a restarted PostgreSQL costs one failed batch, which the keeper retries."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: Any = None

    async def apply(self, records: Sequence[Record]) -> None:
        if self._connection is None:
            self._connection = await self._engine.connect()
            self._driver = (await self._connection.get_raw_connection()).driver_connection
        try:
            async with self._driver.transaction():
                await _apply(self._driver, records)
        except BaseException:
            await self.close(broken=True)
            raise

    async def close(self, broken: bool = False) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            if broken:
                await connection.invalidate()
            await connection.close()


async def unfinished(pg: Any, uniqueids: Sequence[str]) -> list[str]:
    """Of these calls, those ``calls`` lacks or holds without an end or a disposition."""
    finished = {r["uniqueid"] for r in await pg.fetch(SELECT_FINISHED, list(uniqueids))}
    return [uid for uid in uniqueids if uid not in finished]


def node_uniqueid_pattern(system_name: str) -> str:
    """The uniqueids one node makes: `<systemname>-<epoch>.<n>`, or `<epoch>.<n>` for a
    node without a systemname (a single node). A PostgreSQL regular expression."""
    digits = r"[0-9]+\.[0-9]+$"
    if not system_name:
        return "^" + digits
    return "^" + re.escape(system_name) + "-" + digits


async def close_cut_calls(pg: Any, system_name: str, booted_at: datetime,
                          live: Sequence[str]) -> list[str]:
    """Close the calls this node had up when it stopped (see CLOSE_CUT_CALLS); ``live``:
    calls the controller follows now, never touched. Returns the closed uniqueids."""
    rows = await pg.fetch(CLOSE_CUT_CALLS, booted_at, node_uniqueid_pattern(system_name),
                          CUT_BY_NODE_FAILURE, CUT_CAUSE_TEXT, list(live),
                          CUT_BY_SITE_FAILURE, SITE_CUT_CAUSE_TEXT)
    return [r["uniqueid"] for r in rows]


async def fill_calls(pg: Any, updates: Sequence[CallUpdate]) -> tuple[int, int]:
    """Upsert updates by the ``fill`` rule; returns (rows inserted, rows completed)."""
    if not updates:
        return 0, 0
    results = await pg.fetchmany(UPSERT_FILL, _as_args(merge_updates(updates)))
    inserted = sum(1 for r in results if r["inserted"])
    return inserted, len(results) - inserted
