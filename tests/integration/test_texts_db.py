"""The texts service against a real PostgreSQL, its SMS through the real inbox and bus (the
SMS gateway and the desks are fakes we own): a session opened, joined and acknowledged
once; two takes at the same moment, one winner; the offer timing out onto the wall; the
open sessions read back after a restart; nothing stored when the inbox's transaction
fails."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.bus import Bus
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.sms.events import SmsReceived, SmsStored
from ntpd_ivr.sms.service import Inbox
from ntpd_ivr.texts.model import TakenByOther
from ntpd_ivr.texts.service import TextService
from ntpd_ivr.texts.tables import TextMessage, TextSession
from tests.unit.test_texts_model import EXAMPLE

ROUTING = load_routing_config(EXAMPLE)


class Desks:
    """The hub's publish and the SMS outbox's enqueue, recorded."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, str, dict[str, Any], str | None]] = []
        self.sent: list[tuple[str, str, str]] = []
        self.changes = 0

    def publish(self, topic: str, kind: str, data: dict[str, Any], *,
                user: str | None = None) -> int:
        self.pushed.append((topic, kind, data, user))
        return 1

    async def enqueue(self, to: str, body: str, purpose: str) -> int:
        self.sent.append((to, body, purpose))
        return 0  # no outbox row: its delivery state reads as none

    def kinds(self, user: str | None = None) -> list[str]:
        return [k for _, k, _, u in self.pushed if user is None or u == user]

    def changed(self) -> None:
        self.changes += 1


def takers() -> list[tuple[str, str | None, list[str]]]:
    return [("ani", "taker-1", ["takers-default"]), ("budi", "taker-2", ["takers-default"]),
            ("citra", "taker-3", ["takers-muba"])]


def service(engine: AsyncEngine, desks: Desks) -> TextService:
    found = TextService(engine, lambda: ROUTING, desks.publish, takers, enqueue=desks.enqueue,
                        endpoint_of={"ani": "taker-1", "budi": "taker-2"}.get,
                        changed=desks.changed)
    found.accepts = {"ani": True, "budi": True, "citra": True}
    return found


def inbox(engine: AsyncEngine, texts: TextService) -> Inbox:
    bus = Bus()
    bus.subscribe_awaited(SmsReceived, texts.on_sms)
    bus.subscribe(SmsStored, texts.on_sms_stored)
    return Inbox(engine, on_received=bus.call, on_stored=bus.publish)


async def settle(texts: TextService) -> None:
    """The offer and the acknowledgement run in tasks of their own: until they are done."""
    tasks = list(texts._background.tasks)
    if tasks:
        await asyncio.wait(tasks, timeout=10)


@pytest.fixture
async def engine(db_engine: AsyncEngine) -> AsyncEngine:
    async with db_engine.begin() as conn:
        await conn.execute(text("TRUNCATE text_sessions, text_messages"))
    return db_engine


async def test_a_session_opens_joins_is_acknowledged_once_and_times_out_onto_the_wall(
        engine: AsyncEngine) -> None:
    desks = Desks()
    texts = service(engine, desks)
    sms = inbox(engine, texts)
    await sms.receive("081234500001", "112", "tolong")
    await settle(texts)
    [session] = texts.sessions.values()
    assert (session.region, session.queue, session.category) == ("sumsel", "takers-default",
                                                                 "unclassified")
    assert sorted(u for _, k, _, u in desks.pushed if k == "text.offered") == ["ani", "budi"]
    assert desks.sent == [("+6281234500001", ROUTING.texts.ack_text, "text.ack")]
    await sms.receive("081234500001", "112", "di rumah")
    await sms.receive("081234500002", "999", "not to the short code")
    await sms.receive("081234500003", "112", 'A"ML=1;lt=-2.97610;lg=+104.77540;rd=12;pm=G')
    await settle(texts)
    assert len(texts.sessions) == 1 and len(desks.sent) == 1  # acknowledged once
    async with engine.connect() as conn:
        calls = (await conn.execute(select(Call.uniqueid, Call.medium, Call.priority))).all()
        bodies = (await conn.execute(select(TextMessage.body).order_by(TextMessage.id)
                                     )).scalars().all()
    assert calls == [(session.uniqueid, "sms", ROUTING.texts.priority)]
    assert list(bodies) == ["tolong", ROUTING.texts.ack_text, "di rumah"]
    assert texts.wall_summary()["waiting"][0]["unanswered"] is False
    before = desks.changes
    late = session.opened_at + timedelta(seconds=ROUTING.texts.offer_timeout_seconds)
    assert await texts.check_offers(late - timedelta(seconds=1)) == []
    assert await texts.check_offers(late) == [session.uniqueid]
    assert await texts.check_offers(late) == []  # raised once
    assert ("wall", "text.unanswered") in [(t, k) for t, k, _, _ in desks.pushed]
    assert texts.wall_summary()["waiting"][0]["unanswered"] is True
    assert desks.changes == before + 1
    # A restart reads the open session back, its offer's timeout with it.
    again = service(engine, Desks())
    await again.load()
    assert again.sessions[session.uniqueid].unanswered is True


async def test_two_takes_at_once_one_wins(engine: AsyncEngine) -> None:
    desks = Desks()
    texts = service(engine, desks)
    await inbox(engine, texts).receive("081234500009", "112", "tolong")
    await settle(texts)
    [uniqueid] = texts.sessions
    # Two controllers (each its own memory) take it at the same moment: PostgreSQL decides.
    other = service(engine, Desks())
    await other.load()
    other.accepts = dict(texts.accepts)  # load() read the (empty) text_desks
    results = await asyncio.gather(texts.take(uniqueid, "ani"), other.take(uniqueid, "budi"),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, dict)]
    losers = [r for r in results if isinstance(r, TakenByOther)]
    assert len(winners) == 1 and len(losers) == 1, results
    async with engine.connect() as conn:
        taken_by = (await conn.execute(select(TextSession.taken_by))).scalar_one()
        answered_by = (await conn.execute(select(Call.answered_by))).scalar_one()
    assert winners[0]["taken_by"] == taken_by
    assert answered_by == {"ani": "taker-1", "budi": "taker-2"}[taken_by]


async def test_nothing_is_kept_when_the_inbox_transaction_fails(engine: AsyncEngine) -> None:
    desks = Desks()
    texts = service(engine, desks)
    bus = Bus()
    bus.subscribe_awaited(SmsReceived, texts.on_sms)

    async def fails(event: SmsReceived) -> None:
        raise RuntimeError("a later reader failed")
    bus.subscribe_awaited(SmsReceived, fails)
    bus.subscribe(SmsStored, texts.on_sms_stored)
    with pytest.raises(RuntimeError):
        await Inbox(engine, on_received=bus.call, on_stored=bus.publish).receive(
            "081234500010", "112", "tolong")
    await settle(texts)
    assert texts.sessions == {} and desks.pushed == [] and desks.sent == []
    async with engine.connect() as conn:
        assert (await conn.execute(select(TextSession.uniqueid))).first() is None
