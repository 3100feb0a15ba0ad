"""The transfers_out rows on the real PostgreSQL (migration 0024, transfer/persist.py):
each state of an outgoing transfer written with its audit entry in one transaction; a
controller started again mid-transfer reads it back and finishes it with its incident and
call-taker; a database that holds a write is given up on within the store's bound. The AMI
side is the unit tests' fake Asterisk (tests/unit/test_dispatch_service.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.audit.model import AuditEvent
from ntpd_ivr.calls.values import CallStep
from ntpd_ivr.clock import utcnow
from ntpd_ivr.transfer.call import TransferCaller
from ntpd_ivr.transfer.outbound import Transfer
from ntpd_ivr.transfer.persist import RESUME_WINDOW, TransferOutStore
from ntpd_ivr.transfer.tables import TransferOut
from tests.unit.test_dispatch_service import CALLER, FakeAsterisk
from tests.unit.test_transfer_call import CALL_INFO, NEIGHBOUR, REFERENCE, Harness
from tests.waiting import eventually

# The audit trail is append-only: each run's entries are told apart by their incident.
INCIDENT = int(time.time() * 1000)


@pytest.fixture
async def engine(db_engine: AsyncEngine) -> AsyncEngine:
    """The shared test database (tests/conftest.py), without earlier tests' transfers."""
    async with db_engine.begin() as conn:
        await conn.execute(text("DELETE FROM transfers_out"))
    return db_engine


class NoAudit:
    """With a store, the audit entry goes in the row's transaction, never here."""

    async def write(self, actor: str, action: str, subject_type: str, subject_id: str,
                    detail: Mapping[str, Any]) -> None:
        raise AssertionError(f"audit {action} written apart from its row")


def controller(engine: AsyncEngine, asterisk: FakeAsterisk, steps: list[CallStep],
               desk: list[Mapping[str, Any]]) -> TransferCaller:
    return TransferCaller(asterisk, lambda: Harness().config, steps.append, NoAudit(),
                          lambda kind, data, user: desk.append({**data, "user": user}),
                          prompts_dir="/p", ring_seconds=30, accept_seconds=60,
                          rows=TransferOutStore(engine))


async def audit_rows(engine: AsyncEngine, incident: int = INCIDENT
                     ) -> list[tuple[str, str, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.subject_type,
                   AuditEvent.subject_id, AuditEvent.detail)
            .where(AuditEvent.subject_type == "incident",
                   AuditEvent.subject_id == str(incident)).order_by(AuditEvent.id))
        return [(r.actor, r.action, r.subject_id, r.detail["call"]) for r in rows]


async def the_row(engine: AsyncEngine) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(TransferOut.__table__).where(
            TransferOut.reference == REFERENCE))).one()


async def test_a_restarted_controller_finishes_the_transfer_with_its_incident_and_taker(
        engine: AsyncEngine) -> None:
    asterisk = FakeAsterisk()
    steps: list[CallStep] = []
    desk: list[Mapping[str, Any]] = []
    first = controller(engine, asterisk, steps, desk)
    shown = await first.check(NEIGHBOUR, CALLER)
    await first.start(INCIDENT, NEIGHBOUR, CALLER, "ani", shown, CALL_INFO, REFERENCE)
    await eventually(lambda: asterisk.named("Originate"), "the Originate")
    row = await the_row(engine)
    assert (row.state, row.incident_id, row.actor, row.neighbour, row.name,
            row.call_uniqueid) == ("ringing", INCIDENT, "ani", "banyuasin",
                                   NEIGHBOUR.name, CALLER)
    h = Harness()
    h.caller = first
    h.answer(asterisk.named("Originate")[0])
    await eventually(lambda: [d["state"] for d in desk] == ["ringing", "answered"],
                     "answered")
    assert (await the_row(engine)).state == "answered"
    await first.stop()  # the controller stops while the neighbour's call-taker listens

    second = controller(engine, asterisk, steps, desk)
    assert await second.resume() == 1
    assert await second.of_call(CALLER) == {
        "transfer": REFERENCE, "incident_id": INCIDENT, "call": CALLER,
        "neighbour": "banyuasin", "name": NEIGHBOUR.name, "state": "answered",
        "reason": None}
    h.caller = second
    h.key("accept")
    await eventually(lambda: desk[-1]["state"] == "accepted", "accepted after the restart")
    await second.hand_over(REFERENCE, CALLER)  # the taker's leg, found at the accept
    h.leave("PJSIP/taker-1-02")
    await eventually(lambda: desk[-1]["state"] == "completed", "completed")
    await second.stop()
    assert [d["user"] for d in desk] == ["ani"] * 4  # the desk of the call-taker, still
    assert [s.detail["incident"] for s in steps] == [INCIDENT] * 4
    row = await the_row(engine)
    assert (row.state, row.taker_channel, row.neighbour_channel) == (
        "completed", "PJSIP/taker-1-02", "PJSIP/center-banyuasin-0000000a")
    assert row.updated_at > row.created_at
    kinds = ["transfer.ringing", "transfer.answered", "transfer.accepted",
             "transfer.completed"]
    assert await audit_rows(engine) == [("ani", k, str(INCIDENT), CALLER) for k in kinds]
    # Ended: a third controller resumes nothing, and a reloaded desk still reads it.
    third = controller(engine, asterisk, steps, desk)
    assert await third.resume() == 0
    ended = await third.of_call(CALLER)
    assert ended is not None and ended["state"] == "completed"


async def test_a_key_before_the_resume_finds_the_transfer_by_its_reference(
        engine: AsyncEngine) -> None:
    store = TransferOutStore(engine)
    incident = INCIDENT + 1
    await store.save(Transfer(REFERENCE, incident, "banyuasin", "B", CALLER, "ani",
                              state="answered"), utcnow())
    asterisk = FakeAsterisk()
    steps: list[CallStep] = []
    desk: list[Mapping[str, Any]] = []
    h = Harness()
    h.caller = controller(engine, asterisk, steps, desk)
    h.key("refuse")
    await eventually(lambda: desk and desk[-1]["state"] == "failed", "refused")
    assert (desk[-1]["user"], desk[-1]["reason"]) == ("ani", "refused")
    assert await audit_rows(engine, incident) == [
        ("ani", "transfer.failed", str(incident), CALLER)]
    assert ((await the_row(engine)).state, (await the_row(engine)).reason) == (
        "failed", "refused")
    await h.caller.stop()


async def test_only_recent_unended_transfers_are_resumed(engine: AsyncEngine) -> None:
    store = TransferOutStore(engine)
    now = utcnow()
    for n, state in enumerate(("ringing", "accepted", "completed", "failed")):
        await store.save(Transfer(f"{n:032x}", INCIDENT, "banyuasin", "B", f"call-{n}", "ani",
                                  state=state), now)
    await store.save(Transfer("f" * 32, INCIDENT, "banyuasin", "B", "call-old", "ani"),
                     now - RESUME_WINDOW - timedelta(seconds=1))
    # The other controller's (two nodes, docs/ha.md): never resumed here.
    await TransferOutStore(engine, node="node-b").save(
        Transfer("e" * 32, INCIDENT, "banyuasin", "B", "node-b-1.1", "ani"), now)
    found = await store.in_progress(now)
    assert [(t.reference, t.state) for t in found] == [(f"{0:032x}", "ringing"),
                                                       (f"{1:032x}", "accepted")]
    assert [t.reference for t in await TransferOutStore(
        engine, node="node-b").in_progress(now)] == ["e" * 32]


async def test_a_write_the_database_holds_is_given_up_within_the_bound(
        engine: AsyncEngine) -> None:
    store = TransferOutStore(engine, seconds=0.5)
    incident = INCIDENT + 2
    transfer = Transfer(REFERENCE, incident, "banyuasin", "B", CALLER, "ani")
    await store.save(transfer, utcnow(), "transfer.ringing", {"call": CALLER})
    async with engine.connect() as locker:
        await locker.execute(update(TransferOut).where(TransferOut.reference == REFERENCE)
                             .values(name="locked"))  # holds the row's lock, not committed
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await store.save(transfer.to("answered"), utcnow(), "transfer.answered",
                             {"call": CALLER})
        assert time.monotonic() - started < 3.0
        await locker.rollback()
    # Neither the row nor its audit entry moved: one transaction.
    assert (await the_row(engine)).state == "ringing"
    assert [a for _, a, _, _ in await audit_rows(engine, incident)] == ["transfer.ringing"]
