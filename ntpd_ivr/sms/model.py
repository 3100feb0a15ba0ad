"""What the SMS domain decides without I/O: outbox states, Kannel's delivery-report
types, what a sendsms reply means."""

from __future__ import annotations

from dataclasses import dataclass

from ntpd_ivr.errors import NtpdIvrError

QUEUED, ACCEPTED, DELIVERED, UNDELIVERED, FAILED = (
    "queued", "accepted", "delivered", "undelivered", "failed")
OUTBOX_STATUSES = (QUEUED, ACCEPTED, DELIVERED, UNDELIVERED, FAILED)
# Kannel's dlr-mask bits, which its dlr-url's %d reports back (Kannel user guide,
# "Delivery reports"): 1 delivered to the phone, 2 failed at the phone, 4 buffered at
# the SMSC, 8 accepted by the SMSC, 16 rejected by the SMSC.
DLR_DELIVERED, DLR_FAILED, DLR_BUFFERED, DLR_SMSC_ACK, DLR_SMSC_REJECT = 1, 2, 4, 8, 16
DLR_MASK_ALL = 31
MAX_BODY_CHARS = 459  # three concatenated GSM 7-bit parts (3 x 153)


class SmsRefused(NtpdIvrError):
    """An SMS we will not queue (no number to send to, an empty or overlong text)."""


def status_after_report(dlr_type: int) -> str | None:
    """The outbox status a delivery report moves a message to; None: no change."""
    if dlr_type & DLR_DELIVERED:
        return DELIVERED
    if dlr_type & (DLR_FAILED | DLR_SMSC_REJECT):
        return UNDELIVERED
    return None


@dataclass(frozen=True)
class SendResult:
    """Kannel's answer to one sendsms request."""

    accepted: bool
    detail: str
    # False: trying again cannot help (Kannel refused the request itself, a 4xx).
    retry: bool = True


def read_sendsms_reply(status: int, body: str) -> SendResult:
    """sendsms answers 202 "0: Accepted for delivery" or "3: Queued for later delivery"
    (both: bearerbox has it, in its store); anything else is a refusal or a fault."""
    detail = f"{status} {body.strip()[:200]}"
    if status == 202 and body.lstrip()[:2] in ("0:", "3:"):
        return SendResult(True, detail)
    return SendResult(False, detail, retry=not 400 <= status < 500)
