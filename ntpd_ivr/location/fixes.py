"""The caller's phone's own fixes: kept, matched to their call, handed to the desk.

Every fix is kept in location_fixes with its accuracy, method and time, matched or not.
Matching (one call per fix, at arrival):
- by caller number (canonical +62 form, ntpd_ivr/numbers.py): the newest call of that
  number that arrived within `window` seconds before now;
- else by IMEI: the call an earlier fix of the same IMEI (within the window) was matched to
  (an ELS POST may carry no number, only the IMEI);
- either way, never a call that had ended before the phone took the fix (its `time`, else
  now; AFTER_END_TOLERANCE for clocks): that fix is the caller's next call's. A caller cut
  off who dials again at once sends the new call's fix before the new call is in the
  records; it must not land on the call that ended (where no screen shows it).
A fix that matches no call (the SMS came before the call reached the controller, or
before its record was written) waits: `for_call()`, at the screen pop, claims the unmatched
fixes of that number received within the window before the call arrived.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ntpd_ivr.calls.tables import Call
from ntpd_ivr.location.aml import FixRefusal, LocationFix, is_aml, parse_aml_sms
from ntpd_ivr.location.events import FixArrived
from ntpd_ivr.location.model import DeskFix, FixOrigin
from ntpd_ivr.location.tables import LocationFixRow
from ntpd_ivr.numbers import MARKERS
from ntpd_ivr.sms.events import SmsReceived, SmsStored
from ntpd_ivr.sms.tables import SmsInbox

log = logging.getLogger(__name__)

ORIGINS: dict[str, FixOrigin] = {"aml-sms": "aml", "els-https": "els", "link": "link"}
PENDING_MEMORY = 1000  # fixes of SMS whose transaction has not committed yet
AFTER_END_TOLERANCE = timedelta(seconds=10)  # the phone's clock against ours


def desk_fix(row: Any) -> DeskFix:
    """A location_fixes row as the desk shows it."""
    return DeskFix(ORIGINS.get(row.source, "aml"), row.lat, row.lon, row.radius_m,
                   row.method, row.fix_time or row.received_at)


def fix_row(fix: LocationFix) -> dict[str, object]:
    """A LocationFix as the columns of location_fixes."""
    return {"source": fix.source, "lat": fix.lat, "lon": fix.lon, "radius_m": fix.radius_m,
            "fix_time": fix.time, "method": fix.method, "confidence": fix.confidence,
            "caller_number": fix.caller, "imei": fix.imei, "imsi": fix.imsi,
            "mcc": fix.mcc, "mnc": fix.mnc}


class Fixes:
    """Keeps, matches and announces fixes (`publish`: the bus's FixArrived)."""

    def __init__(self, engine: AsyncEngine, window_seconds: float,
                 publish: Callable[[FixArrived], None] = lambda event: None) -> None:
        self.engine = engine
        self.window = timedelta(seconds=window_seconds)
        self.publish = publish
        self.counts: Counter[str] = Counter()  # aml, fixes, refused, matched, els, link
        self._pending: OrderedDict[int, FixArrived] = OrderedDict()

    # --- the SMS route (bus: SmsReceived in the inbox's transaction, then SmsStored) ----

    async def on_sms(self, event: SmsReceived) -> None:
        if not is_aml(event.text):
            return
        self.counts["aml"] += 1
        parsed = parse_aml_sms(event.text, event.sender_raw)
        refusal = parsed.reason if isinstance(parsed, FixRefusal) else None
        await event.conn.execute(update(SmsInbox).where(SmsInbox.id == event.sms_id)
                                 .values(kind="aml", refusal=refusal))
        if isinstance(parsed, FixRefusal):
            self.counts["refused"] += 1
            log.warning("AML SMS %s from %s refused: %s", event.sms_id, event.sender,
                        parsed.reason)
            return
        self.counts["fixes"] += 1
        arrived = await self.keep(event.conn, parsed, sms_id=event.sms_id)
        if arrived is not None:
            self._pending[event.sms_id] = arrived
            while len(self._pending) > PENDING_MEMORY:
                self._pending.popitem(last=False)

    def on_sms_stored(self, event: SmsStored) -> None:
        arrived = self._pending.pop(event.sms_id, None)
        if arrived is not None:
            self.publish(arrived)

    # --- the other routes (ELS HTTPS, location link): their own transaction -----------

    async def receive(self, fix: LocationFix, *, call: str | None = None) -> FixArrived | None:
        """Keep one fix, matched to `call` when the route knows it (a location link);
        announced once committed."""
        async with self.engine.begin() as conn:
            arrived = await self.keep(conn, fix, call=call)
        if arrived is not None:
            self.publish(arrived)
        return arrived

    async def keep(self, conn: AsyncConnection, fix: LocationFix, *, sms_id: int | None = None,
                   call: str | None = None) -> FixArrived | None:
        call = call or await self.match(conn, fix.caller, fix.imei, fix.time)
        row = (await conn.execute(insert(LocationFixRow).values(
            **fix_row(fix), sms_id=sms_id, call_uniqueid=call)
            .returning(LocationFixRow.__table__))).one()
        if call is None:
            log.info("location fix %s from %s matches no call yet (kept)", row.id,
                     fix.caller or fix.imei or "?")
            return None
        self.counts["matched"] += 1
        log.info("location fix %s (%s, ±%s m) matched to the call", row.id, fix.source,
                 fix.radius_m, extra={"call_id": call})
        return FixArrived(call, desk_fix(row))

    async def match(self, conn: AsyncConnection, caller: str | None, imei: str | None,
                    taken_at: datetime | None = None) -> str | None:
        """The call a fix taken at `taken_at` (None: now) belongs to, or None (it waits)."""
        since = func.now() - self.window
        taken = taken_at if taken_at is not None else func.now()
        not_ended_before = or_(Call.ended_at.is_(None),
                               Call.ended_at >= taken - AFTER_END_TOLERANCE)
        if caller and caller not in MARKERS:
            found = (await conn.execute(
                select(Call.uniqueid).where(
                    Call.caller_number == caller, Call.arrived_at >= since)
                .order_by(Call.arrived_at.desc()).limit(1))).scalar_one_or_none()
            if found is not None:  # the newest call of the number: its fix, or nobody's yet
                return await self._unless_ended(conn, str(found), not_ended_before)
        if imei:
            found = (await conn.execute(
                select(LocationFixRow.call_uniqueid).where(
                    LocationFixRow.imei == imei, LocationFixRow.call_uniqueid.is_not(None),
                    LocationFixRow.received_at >= since)
                .order_by(LocationFixRow.id.desc()).limit(1))).scalar_one_or_none()
            if found is not None:
                return await self._unless_ended(conn, str(found), not_ended_before)
        return None

    @staticmethod
    async def _unless_ended(conn: AsyncConnection, uniqueid: str,
                            not_ended_before: Any) -> str | None:
        still = (await conn.execute(select(Call.uniqueid).where(
            Call.uniqueid == uniqueid, not_ended_before))).scalar_one_or_none()
        return str(still) if still is not None else None

    # --- the desk's screen pop ------------------------------------------------------------

    async def for_call(self, uniqueid: str, caller: str | None,
                       arrived_at: datetime | None) -> list[DeskFix]:
        """Every fix of this call, the waiting ones of its number claimed first."""
        async with self.engine.begin() as conn:
            if caller and caller not in MARKERS:
                since = (arrived_at - self.window if arrived_at is not None
                         else func.now() - self.window)
                await conn.execute(update(LocationFixRow).where(and_(
                    LocationFixRow.call_uniqueid.is_(None),
                    LocationFixRow.caller_number == caller,
                    LocationFixRow.received_at >= since)).values(call_uniqueid=uniqueid))
            rows = await conn.execute(select(LocationFixRow.__table__)
                                      .where(LocationFixRow.call_uniqueid == uniqueid)
                                      .order_by(LocationFixRow.id))
            return [desk_fix(row) for row in rows]
