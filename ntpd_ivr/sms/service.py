"""The SMS services: the outbox (the only code that changes sms_outbox and stores
delivery reports) and the inbox (stores every incoming SMS and hands it on: what an SMS
means is other domains' business). Both take an engine and own their transactions."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased

from ntpd_ivr.clock import utcnow
from ntpd_ivr.numbers import CallerKind, canonical_caller, parse_caller
from ntpd_ivr.settings import SmsSettings
from ntpd_ivr.sms import model
from ntpd_ivr.sms.events import SmsDelivery, SmsReceived, SmsStored
from ntpd_ivr.sms.model import SendResult, SmsRefused
from ntpd_ivr.sms.tables import SmsDeliveryReport, SmsInbox, SmsOutbox

log = logging.getLogger(__name__)

# Messages handed to Kannel at once. Each sendsms is an HTTP round trip (about 40 ms here)
# during which its row stays locked in its own transaction, so a burst of replies went out
# one after the other; four senders take four due rows (SKIP LOCKED skips each other's) and
# hold at most four pooled connections. One number's messages still go in order: a row
# waits while an earlier one to the same number is queued (see _attempt).
OUTBOX_SENDERS = 4
_EARLIER = aliased(SmsOutbox)


class Gateway(Protocol):
    async def send(self, to: str, sender: str, text: str, token: str) -> SendResult: ...


@dataclass(frozen=True)
class OutboxStatus:
    gateway_ok: bool | None  # None: nothing tried since the start
    waiting: int             # queued, not yet accepted by Kannel
    last_error: str


class Outbox:
    """Outgoing SMS: queued in PostgreSQL first, sent by `run()`, retried every
    retry_seconds until Kannel accepts it, at most max_attempts times and never after
    expire_minutes. Kannel down loses nothing: the rows wait."""

    def __init__(self, engine: AsyncEngine, gateway: Gateway, settings: SmsSettings,
                 now: Callable[[], datetime] = utcnow,
                 on_status: Callable[[SmsDelivery], None] | None = None) -> None:
        self.engine = engine
        self.on_status = on_status  # each committed change of a message's state (news)
        self.gateway = gateway
        self.settings = settings
        self.now = now
        self._wake = asyncio.Event()
        # For the desk's status line: None until the first attempt.
        self.gateway_ok: bool | None = None
        self.last_error: str = ""

    async def enqueue(self, to: str, body: str, purpose: str) -> int:
        """Queue one SMS; its outbox id. SmsRefused when there is nothing to send to."""
        caller = parse_caller(to)
        if caller.kind is not CallerKind.NUMBER:
            raise SmsRefused(f"{to!r} is not a number an SMS can go to")
        if not body.strip() or len(body) > model.MAX_BODY_CHARS:
            raise SmsRefused(f"an SMS text is 1-{model.MAX_BODY_CHARS} characters")
        async with self.engine.begin() as conn:
            outbox_id = (await conn.execute(insert(SmsOutbox).values(
                to_number=caller.value, sender=self.settings.sender, body=body,
                purpose=purpose, status=model.QUEUED, next_attempt_at=self.now(),
                dlr_token=secrets.token_urlsafe(24)).returning(SmsOutbox.id))).scalar_one()
        self._wake.set()
        return int(outbox_id)

    async def run(self) -> None:
        """Send what is due, then wait for an enqueue or the retry interval; forever."""
        while True:
            try:
                await self.send_due()
            except SQLAlchemyError as exc:  # the database away: try again later
                log.warning("SMS outbox: database unavailable: %s", exc)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.retry_seconds)
            except TimeoutError:
                pass

    async def send_due(self, limit: int = 50) -> int:
        """One pass over the due messages, OUTBOX_SENDERS at a time (each in its own
        transaction, its row locked so that the other senders and a second controller
        skip it); how many Kannel accepted. At most `limit` attempts in all."""
        attempts_left = limit

        async def sender() -> int:
            nonlocal attempts_left
            accepted = 0
            while attempts_left > 0:
                attempts_left -= 1
                outcome = await self._send_one()
                if outcome is None:
                    break
                accepted += outcome
            return accepted

        # Not a TaskGroup: one sender's database error must not cancel another in the
        # middle of its sendsms (Kannel took it, the row not yet marked: sent twice).
        results = await asyncio.gather(*(sender() for _ in range(OUTBOX_SENDERS)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    def _announce(self, outbox_id: int, status: str) -> None:
        if self.on_status is not None:
            self.on_status(SmsDelivery(outbox_id, status))

    async def _send_one(self) -> int | None:
        changed: list[tuple[int, str]] = []
        outcome = await self._attempt(changed)
        for outbox_id, status in changed:  # committed: news
            self._announce(outbox_id, status)
        return outcome

    async def _attempt(self, changed: list[tuple[int, str]]) -> int | None:
        now = self.now()
        async with self.engine.begin() as conn:
            message = (await conn.execute(
                select(SmsOutbox.__table__).where(
                    SmsOutbox.status == model.QUEUED, SmsOutbox.next_attempt_at <= now,
                    # in order per number: none earlier to the same number still queued
                    # (being sent by another sender, or waiting for its retry)
                    ~select(_EARLIER.id).where(_EARLIER.to_number == SmsOutbox.to_number,
                                               _EARLIER.status == model.QUEUED,
                                               _EARLIER.id < SmsOutbox.id).exists())
                .order_by(SmsOutbox.next_attempt_at, SmsOutbox.id).limit(1)
                .with_for_update(skip_locked=True))).first()
            if message is None:
                return None
            expires = message.created_at + timedelta(minutes=self.settings.expire_minutes)
            if now >= expires:
                await self._mark(conn, message.id, status=model.FAILED, next_attempt_at=None,
                                 last_error=f"expired after {self.settings.expire_minutes:g} "
                                            f"min: {message.last_error or 'never sent'}")
                changed.append((message.id, model.FAILED))
                return 0
            result = await self.gateway.send(message.to_number, message.sender, message.body,
                                             message.dlr_token)
            attempts = message.attempts + 1
            self.gateway_ok = result.accepted or not result.retry
            if result.accepted:
                await self._mark(conn, message.id, status=model.ACCEPTED, attempts=attempts,
                                 accepted_at=self.now(), next_attempt_at=None,
                                 last_error=None)
                log.info("SMS %s to %s accepted by Kannel", message.id, message.to_number)
                changed.append((message.id, model.ACCEPTED))
                return 1
            self.last_error = result.detail
            give_up = not result.retry or attempts >= self.settings.max_attempts
            log.warning("SMS %s to %s not accepted (attempt %s): %s", message.id,
                        message.to_number, attempts, result.detail)
            await self._mark(
                conn, message.id, status=model.FAILED if give_up else model.QUEUED,
                attempts=attempts, last_error=result.detail,
                next_attempt_at=None if give_up
                else self.now() + timedelta(seconds=self.settings.retry_seconds))
            if give_up:
                changed.append((message.id, model.FAILED))
            return 0

    async def status(self) -> OutboxStatus:
        """For the desk: is Kannel taking messages, and how many wait."""
        async with self.engine.connect() as conn:
            waiting = (await conn.execute(select(func.count()).select_from(SmsOutbox)
                                          .where(SmsOutbox.status == model.QUEUED))).scalar_one()
        return OutboxStatus(self.gateway_ok, int(waiting), self.last_error)

    @staticmethod
    async def _mark(conn: AsyncConnection, outbox_id: int, **values: object) -> None:
        await conn.execute(update(SmsOutbox).where(SmsOutbox.id == outbox_id).values(**values))

    async def record_report(self, token: str, dlr_type: int, reply: str) -> bool:
        """A delivery report from Kannel for the message with this token; False when no
        message has it."""
        async with self.engine.begin() as conn:
            outbox_id = (await conn.execute(
                select(SmsOutbox.id).where(SmsOutbox.dlr_token == token)
                .with_for_update())).scalar_one_or_none()
            if outbox_id is None:
                return False
            await conn.execute(insert(SmsDeliveryReport).values(
                outbox_id=outbox_id, dlr_type=dlr_type, reply=reply[:500]))
            status = model.status_after_report(dlr_type)
            if status is not None:
                await conn.execute(update(SmsOutbox).where(SmsOutbox.id == outbox_id).values(
                    status=status,
                    delivered_at=self.now() if status == model.DELIVERED else None))
        if status is not None:
            self._announce(int(outbox_id), status)
        return True


InboxHandler = Callable[[SmsReceived], Awaitable[None]]


class Inbox:
    """Incoming SMS from smsbox's get-url. Every one is stored in sms_inbox; then
    `on_received` (the bus's SmsReceived, awaited in the same transaction) lets the
    domains that read SMS store what they make of it, and `on_stored` says it committed.
    The inbox itself knows no message format."""

    def __init__(self, engine: AsyncEngine, on_received: InboxHandler | None = None,
                 on_stored: Callable[[SmsStored], None] | None = None) -> None:
        self.engine = engine
        self.on_received = on_received
        self.on_stored = on_stored
        self.counts: Counter[str] = Counter()  # received

    async def receive(self, sender: str, receiver: str, text: str,
                      kannel_id: str = "") -> int:
        """Store one SMS; its sms_inbox id."""
        canonical = canonical_caller(sender)
        async with self.engine.begin() as conn:
            sms_id = int((await conn.execute(insert(SmsInbox).values(
                from_number=canonical, from_raw=sender[:64], to_number=receiver[:64],
                body=text[:2000], kannel_id=kannel_id[:64], kind="text")
                .returning(SmsInbox.id))).scalar_one())
            if self.on_received is not None:
                await self.on_received(SmsReceived(conn, sms_id, canonical, sender[:64],
                                                   receiver[:64], text[:2000]))
        self.counts["received"] += 1
        if self.on_stored is not None:
            self.on_stored(SmsStored(sms_id))
        return sms_id
