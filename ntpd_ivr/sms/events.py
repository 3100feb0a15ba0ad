"""What the SMS domain tells the others (ntpd_ivr/bus.py). It reads no message: what an
SMS means (an AML location fix, ...) is the business of the domain that subscribes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class SmsReceived:
    """One incoming SMS, just stored in sms_inbox. Delivered with `bus.call` inside the
    inbox's transaction: a handler writes what it makes of the SMS on `conn`, so that the
    SMS and its meaning are stored together or not at all (and then Kannel tries again)."""

    conn: AsyncConnection
    sms_id: int
    sender: str      # canonical (+62…), or a marker (ntpd_ivr/numbers.py)
    sender_raw: str  # as the SMSC gave it
    receiver: str    # the number it was sent to (our short code)
    text: str


@dataclass(frozen=True)
class SmsStored:
    """News: the transaction of SmsReceived committed (what it made may now be shown)."""

    sms_id: int


@dataclass(frozen=True)
class SmsGatewayChanged:
    """News: Kannel started or stopped taking our messages, or the waiting count moved.
    `up` None: nothing tried since the start."""

    up: bool | None
    waiting: int
    detail: str


@dataclass(frozen=True)
class SmsDelivery:
    """News: an outgoing SMS changed state once committed: `status` is the outbox's
    (sms/model.py: accepted when Kannel took it, delivered or undelivered from a delivery
    report, failed when the outbox gave up). The texts domain shows it to the call-taker."""

    outbox_id: int
    status: str
