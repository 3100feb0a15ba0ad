"""Fixes from the caller's phone against a real PostgreSQL: kept, matched to the live or
recent call by number (canonical +62) or by IMEI within the window, several per call, an
early one claimed when its call arrives, announced only once committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.bus import Bus
from ntpd_ivr.calls.tables import Call
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.location.aml import LocationFix, parse_aml_sms
from ntpd_ivr.location.events import FixArrived
from ntpd_ivr.location.fixes import Fixes
from ntpd_ivr.location.tables import LocationFixRow
from ntpd_ivr.settings import DatabaseSettings
from ntpd_ivr.sms.events import SmsReceived, SmsStored
from ntpd_ivr.sms.service import Inbox
from ntpd_ivr.sms.tables import SmsInbox

if TYPE_CHECKING:
    from tests.conftest import RunningPostgres

CALLER = "+6281234567890"
AML = ('A"ML=1;lt=-2.97610;lg=+104.77540;rd=12;top=20261207091500;lc=68;pm=G;'
       'si=510100000000000;ei=355458061005220;mcc=510;mnc=10;ml=125')


def fix(caller: str | None, imei: str | None = None, radius: float = 20.0) -> LocationFix:
    return LocationFix("els-https", -2.99, 104.75, radius, datetime.now(UTC), "gnss", None,
                       caller, imei, None, None, None)


@pytest.fixture
async def engine(postgres: RunningPostgres) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(DatabaseSettings(url=postgres.url))
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE calls, sms_inbox, location_fixes "
                                "RESTART IDENTITY CASCADE"))
    yield engine
    await engine.dispose()


async def add_call(engine: AsyncEngine, uniqueid: str, caller: str, *,
                   ago: float = 5.0, ended: bool = False) -> None:
    arrived = datetime.now(UTC) - timedelta(seconds=ago)
    async with engine.begin() as conn:
        await conn.execute(insert(Call).values(
            uniqueid=uniqueid, caller_number=caller, arrived_at=arrived,
            ended_at=arrived + timedelta(seconds=1) if ended else None))


async def test_a_fix_matches_the_live_call_of_its_number_and_is_announced(
        engine: AsyncEngine) -> None:
    await add_call(engine, "old.1", CALLER, ago=3600, ended=True)  # outside the window
    await add_call(engine, "live.1", CALLER)
    await add_call(engine, "other.1", "+6281200000000")
    announced: list[FixArrived] = []
    fixes = Fixes(engine, 600.0, publish=announced.append)
    arrived = await fixes.receive(fix(CALLER, imei="355458061005220"))
    assert arrived is not None and arrived.call == "live.1"
    assert announced == [arrived]
    assert (arrived.fix.source, arrived.fix.radius_m) == ("els", 20.0)
    # An ELS POST without a number, same IMEI: the same call.
    by_imei = await fixes.receive(fix(None, imei="355458061005220", radius=8.0))
    assert by_imei is not None and by_imei.call == "live.1"
    # Both kept, both the call's, in the order received.
    found = await fixes.for_call("live.1", CALLER, None)
    assert [f.radius_m for f in found] == [20.0, 8.0]
    assert fixes.counts["matched"] == 2


async def test_a_fix_before_its_call_is_kept_and_claimed_when_the_call_pops(
        engine: AsyncEngine) -> None:
    announced: list[FixArrived] = []
    fixes = Fixes(engine, 600.0, publish=announced.append)
    assert await fixes.receive(fix(CALLER)) is None  # no call yet: kept, not announced
    assert announced == []
    async with engine.connect() as conn:
        [row] = (await conn.execute(select(LocationFixRow.call_uniqueid))).all()
    assert row.call_uniqueid is None
    await add_call(engine, "late.1", CALLER, ago=1)
    [claimed] = await fixes.for_call("late.1", CALLER, datetime.now(UTC))
    assert (claimed.lat, claimed.lon, claimed.method) == (-2.99, 104.75, "gnss")
    # A call of another number claims nothing.
    assert await fixes.for_call("x.1", "+6281200000000", datetime.now(UTC)) == []



async def test_a_fix_taken_after_the_callers_last_call_ended_waits_for_the_next_call(
        engine: AsyncEngine) -> None:
    # Cut off, the caller dials again at once: the phone's fix for the new call comes
    # before the new call is in the records. It is not the ended call's (no screen shows
    # that one); the new call's pop claims it. The same by IMEI alone.
    await add_call(engine, "cut.1", CALLER, ago=60, ended=True)  # ended 59 s ago
    async with engine.begin() as conn:
        await conn.execute(insert(LocationFixRow).values(
            source="els-https", lat=-2.9, lon=104.7, radius_m=30.0, method="gnss",
            caller_number=CALLER, imei="355458061005220", call_uniqueid="cut.1"))
    fixes = Fixes(engine, 600.0)
    assert await fixes.receive(fix(CALLER, imei="355458061005220")) is None
    assert await fixes.receive(fix(None, imei="355458061005220", radius=8.0)) is None
    # One the phone took while that call was still up (delivered late) is still its own.
    during = LocationFix("els-https", -2.99, 104.75, 15.0,
                         datetime.now(UTC) - timedelta(seconds=59.5), "gnss", None, CALLER,
                         None, None, None, None)
    late = await fixes.receive(during)
    assert late is not None and late.call == "cut.1"
    await add_call(engine, "again.1", CALLER, ago=1)
    claimed = await fixes.for_call("again.1", CALLER, datetime.now(UTC))
    assert [f.radius_m for f in claimed] == [20.0]  # the numbered one; the IMEI-only waits


def wired(engine: AsyncEngine) -> tuple[Bus, list[FixArrived]]:
    """The SMS and location domains over one bus, as their plugins wire them."""
    bus, announced = Bus(), []
    fixes = Fixes(engine, 600.0, publish=bus.publish)
    bus.subscribe_awaited(SmsReceived, fixes.on_sms)
    bus.subscribe(SmsStored, fixes.on_sms_stored)
    bus.subscribe(FixArrived, announced.append)
    return bus, announced


async def test_an_aml_sms_through_the_inbox_becomes_a_matched_fix_after_commit(
        engine: AsyncEngine) -> None:
    await add_call(engine, "live.2", CALLER)
    bus, announced = wired(engine)
    inbox = Inbox(engine, on_received=bus.call, on_stored=bus.publish)
    sms_id = await inbox.receive("081234567890", "112", AML)
    [arrived] = announced
    assert arrived.call == "live.2"
    assert (arrived.fix.source, arrived.fix.lat, arrived.fix.radius_m) == ("aml", -2.9761, 12.0)
    assert arrived.fix.as_json()["at"] == "2026-12-07T09:15:00+00:00"
    async with engine.connect() as conn:
        kind = (await conn.execute(select(SmsInbox.kind).where(SmsInbox.id == sms_id))
                ).scalar_one()
    assert kind == "aml"
    assert isinstance(parse_aml_sms(AML, CALLER), LocationFix)


async def test_a_failed_transaction_announces_nothing(engine: AsyncEngine) -> None:
    await add_call(engine, "live.3", CALLER)
    bus, announced = wired(engine)

    async def fail(event: SmsReceived) -> None:
        raise RuntimeError("a later step failed")
    bus.subscribe_awaited(SmsReceived, fail)
    inbox = Inbox(engine, on_received=bus.call, on_stored=bus.publish)
    with pytest.raises(RuntimeError):
        await inbox.receive(CALLER, "112", AML)
    assert announced == []
    async with engine.connect() as conn:
        assert (await conn.execute(select(LocationFixRow.id))).all() == []
