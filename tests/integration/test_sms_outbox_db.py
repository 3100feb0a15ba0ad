"""The outbox's senders against a real PostgreSQL: a burst of replies goes to Kannel several
at a time (SKIP LOCKED), yet one number's messages go out in the order they were queued,
each message once, and a refused one holds the later ones to its number back until it is
settled. The gateway is ours (it records what it was handed and how many at once); the
real Kannel path is tests/integration/test_sms_kannel_db.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.db.session import make_engine
from ntpd_ivr.settings import DatabaseSettings, SmsSettings
from ntpd_ivr.sms import model
from ntpd_ivr.sms.model import SendResult
from ntpd_ivr.sms.service import OUTBOX_SENDERS, Outbox
from ntpd_ivr.sms.tables import SmsOutbox

if TYPE_CHECKING:
    from tests.conftest import RunningPostgres

NUMBERS = [f"+6281200000{n:03d}" for n in range(6)]


class RecordingGateway:
    """Takes `seconds` per sendsms, as Kannel's HTTP round trip does; remembers the order
    of the hand-overs and the most it was handed at once. `refuse_first` bodies are
    refused (retry) once."""

    def __init__(self, seconds: float = 0.05, refuse_first: frozenset[str] = frozenset()):
        self.seconds = seconds
        self.refuse_first = set(refuse_first)
        self.sent: list[tuple[str, str]] = []
        self.in_flight = 0
        self.most_at_once = 0

    async def send(self, to: str, sender: str, text: str, token: str) -> SendResult:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.in_flight -= 1
        if text in self.refuse_first:
            self.refuse_first.discard(text)
            return SendResult(False, "503 queue full")
        self.sent.append((to, text))
        return SendResult(True, "0: Accepted for delivery")


@pytest.fixture
async def engine(postgres: RunningPostgres) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(DatabaseSettings(url=postgres.url))
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE sms_outbox, sms_delivery_reports RESTART IDENTITY "
                                "CASCADE"))
    yield engine
    await engine.dispose()


def settings() -> SmsSettings:
    return SmsSettings(enabled=True, retry_seconds=0.0, max_attempts=5)


async def queue_burst(outbox: Outbox) -> list[tuple[str, str]]:
    queued = []
    for turn in range(3):
        for number in NUMBERS:
            body = f"balasan {turn} untuk {number}"
            await outbox.enqueue(number, body, "text-reply")
            queued.append((number, body))
    return queued


async def test_a_burst_goes_out_several_at_a_time_in_order_per_number_each_once(
        engine: AsyncEngine) -> None:
    gateway = RecordingGateway()
    outbox = Outbox(engine, gateway, settings())
    queued = await queue_burst(outbox)

    accepted = await outbox.send_due()

    assert accepted == len(queued)
    assert sorted(gateway.sent) == sorted(queued)  # each once
    for number in NUMBERS:
        assert [b for n, b in gateway.sent if n == number] == [
            b for n, b in queued if n == number]
    # Several numbers waited: more than one sendsms at a time, never more than the senders.
    assert 1 < gateway.most_at_once <= OUTBOX_SENDERS
    async with engine.connect() as conn:
        statuses = (await conn.execute(select(SmsOutbox.status))).scalars().all()
    assert set(statuses) == {model.ACCEPTED}


async def test_a_refused_message_holds_back_the_later_ones_to_its_number_only(
        engine: AsyncEngine) -> None:
    first_to_0 = f"balasan 0 untuk {NUMBERS[0]}"
    gateway = RecordingGateway(refuse_first=frozenset({first_to_0}))
    outbox = Outbox(engine, gateway, settings())
    queued = await queue_burst(outbox)

    await outbox.send_due()
    for _ in range(10):  # the refused one is due again at once (retry_seconds 0)
        if len(gateway.sent) == len(queued):
            break
        await outbox.send_due()

    to_0 = [b for n, b in gateway.sent if n == NUMBERS[0]]
    assert to_0 == [b for n, b in queued if n == NUMBERS[0]], "in order despite the refusal"
    assert sorted(gateway.sent) == sorted(queued)


async def test_a_limit_bounds_the_attempts_of_one_pass(engine: AsyncEngine) -> None:
    gateway = RecordingGateway(seconds=0.0)
    outbox = Outbox(engine, gateway, settings())
    await queue_burst(outbox)
    assert await outbox.send_due(limit=5) == 5
    assert len(gateway.sent) == 5
