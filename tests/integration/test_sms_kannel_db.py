"""SMS through a real Kannel (bearerbox + smsbox from Debian's `kannel`, started by
ntpd_ivr/stack/kannel.py) with Kannel's own fake SMSC, against a real PostgreSQL
(tests/conftest.py): an AML SMS from the fake SMSC reaches our receiver and is stored as a
location fix; an MT from the outbox reaches the fake SMSC and its delivery report is
stored; with Kannel stopped an MT waits in the outbox and goes out once Kannel is back.
Loopback only; every wait is bounded; only the processes started here are stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.bus import Bus
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.location.fixes import Fixes
from ntpd_ivr.location.tables import LocationFixRow
from ntpd_ivr.settings import DatabaseSettings, SmsSettings
from ntpd_ivr.sms import model
from ntpd_ivr.sms.events import SmsGatewayChanged, SmsReceived, SmsStored
from ntpd_ivr.sms.gateway import KannelGateway
from ntpd_ivr.sms.http import Receiver, receiver_app
from ntpd_ivr.sms.plugin import GatewayWatch
from ntpd_ivr.sms.service import Inbox, Outbox
from ntpd_ivr.sms.tables import SmsDeliveryReport, SmsInbox, SmsOutbox
from ntpd_ivr.stack.kannel import FakeSmsc, Kannel, KannelConfig
from ntpd_ivr.stack.ports import free_port

if TYPE_CHECKING:
    from tests.conftest import RunningPostgres

T = TypeVar("T")
AML = ('A"ML=1;lt=-2.97610;lg=+104.77540;rd=12;top=20261207091500;lc=68;pm=G;'
       'si=510100000000000;ei=355458061005220;mcc=510;mnc=10;ml=125')
CALLER = "+6281234567890"


@dataclass
class SmsRig:
    settings: SmsSettings
    engine: AsyncEngine
    kannel: Kannel
    smsc: FakeSmsc
    inbox: Inbox
    outbox: Outbox
    receiver_url: str
    fixes: Fixes


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str,
                     within: float = 20.0) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within:g} s: {what}")


async def rows(engine: AsyncEngine, table: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(table.__table__).order_by(table.id))
        return [dict(r) for r in result.mappings()]


@pytest.fixture
async def rig(postgres: RunningPostgres) -> AsyncIterator[SmsRig]:
    run_dir = Path(tempfile.mkdtemp(prefix="ntpd-ivr-sms-"))
    settings = SmsSettings(
        enabled=True, admin_port=free_port(), smsbox_port=free_port(),
        sendsms_port=free_port(), smsc_port=free_port(), receiver_port=free_port(),
        admin_password=secrets.token_urlsafe(18), sendsms_password=secrets.token_urlsafe(18),
        shared_secret=secrets.token_urlsafe(18), retry_seconds=0.5, max_attempts=100,
        request_timeout_seconds=3.0)
    receiver_url = f"http://127.0.0.1:{settings.receiver_port}"
    engine = make_engine(DatabaseSettings(url=postgres.url))
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE calls, sms_outbox, sms_delivery_reports, sms_inbox, "
                                "location_fixes RESTART IDENTITY CASCADE"))
    gateway = KannelGateway(settings, receiver_url)
    # As the plugins wire it: the inbox hands each SMS on over the bus; the location
    # domain reads the AML ones.
    bus, fixes = Bus(), Fixes(engine, 600.0)
    bus.subscribe_awaited(SmsReceived, fixes.on_sms)
    bus.subscribe(SmsStored, fixes.on_sms_stored)
    inbox = Inbox(engine, on_received=bus.call, on_stored=bus.publish)
    outbox = Outbox(engine, gateway, settings)
    receiver = Receiver(receiver_app(inbox, outbox, settings.shared_secret), "127.0.0.1",
                        settings.receiver_port)
    kannel = Kannel(KannelConfig(run_dir, settings, receiver_url))
    smsc = FakeSmsc(settings.smsc_port, run_dir / "fakesmsc.log")
    await receiver.start()
    try:
        await asyncio.to_thread(kannel.start)
        smsc.start()
        yield SmsRig(settings, engine, kannel, smsc, inbox, outbox, receiver_url, fixes)
    finally:
        smsc.stop()
        await asyncio.to_thread(kannel.stop)
        await receiver.stop()
        await gateway.close()
        await engine.dispose()
        if not os.environ.get("SMS_KEEP_RUN_DIR"):  # for post-mortems
            shutil.rmtree(run_dir, ignore_errors=True)


async def test_an_aml_sms_from_the_smsc_is_stored_as_a_location_fix(rig: SmsRig) -> None:
    await asyncio.to_thread(rig.smsc.send, CALLER, "112", AML)
    await asyncio.to_thread(rig.smsc.send, "081299990000", "112",
                            'A"ML=1;lt=+00.00000;lg=+000.00000;rd=N;pm=N')
    await asyncio.to_thread(rig.smsc.send, "081299990001", "112", "Tolong, ada banjir")

    async def three() -> list[dict[str, Any]] | None:
        found = await rows(rig.engine, SmsInbox)
        return found if len(found) == 3 else None

    inbox = {row["from_number"]: row for row in await eventually(three, "three SMS stored")}
    assert inbox[CALLER]["body"] == AML  # the double quote of A"ML intact
    assert (inbox[CALLER]["kind"], inbox[CALLER]["refusal"]) == ("aml", None)
    assert inbox["+6281299990000"]["refusal"] == "the phone had no location (pm=N)"
    assert (inbox["+6281299990001"]["kind"], inbox["+6281299990001"]["to_number"]) == (
        "text", "112")
    [fix] = await rows(rig.engine, LocationFixRow)
    assert (fix["lat"], fix["lon"], fix["radius_m"], fix["method"]) == (
        -2.9761, 104.7754, 12.0, "gnss")
    assert (fix["caller_number"], fix["imei"], fix["mcc"], fix["mnc"], fix["sms_id"]) == (
        CALLER, "355458061005220", "510", "10", inbox[CALLER]["id"])
    assert rig.inbox.counts == {"received": 3}
    assert rig.fixes.counts == {"aml": 2, "fixes": 1, "refused": 1}


async def test_an_mt_reaches_the_smsc_and_its_delivery_report_is_stored(rig: SmsRig) -> None:
    outbox_id = await rig.outbox.enqueue("0812-3456-7890", "Buka tautan ini: lokasi", "test")
    assert await rig.outbox.send_due() == 1

    async def printed() -> list[str] | None:
        return [m for m in rig.smsc.received() if "Buka tautan" in m] or None

    assert await eventually(printed, "the fake SMSC printed the MT") == [
        f"112 {CALLER} text Buka tautan ini: lokasi"]

    async def delivered() -> dict[str, Any] | None:
        [row] = await rows(rig.engine, SmsOutbox)
        return row if row["status"] == model.DELIVERED else None

    row = await eventually(delivered, "the delivery report marked it delivered")
    assert (row["id"], row["attempts"], row["to_number"]) == (outbox_id, 1, CALLER)
    assert row["accepted_at"] is not None and row["delivered_at"] is not None
    reports = await rows(rig.engine, SmsDeliveryReport)
    assert {r["dlr_type"] for r in reports} >= {model.DLR_DELIVERED}
    assert all(r["outbox_id"] == outbox_id for r in reports)


async def test_with_kannel_down_an_mt_waits_and_goes_out_when_it_is_back(rig: SmsRig) -> None:
    rig.smsc.stop()
    await asyncio.to_thread(rig.kannel.stop)
    outbox_id = await rig.outbox.enqueue(CALLER, "Pesan saat gateway mati", "test")
    sender = asyncio.create_task(rig.outbox.run())
    try:
        async def tried_twice() -> dict[str, Any] | None:
            [row] = await rows(rig.engine, SmsOutbox)
            return row if row["attempts"] >= 2 else None

        row = await eventually(tried_twice, "two attempts while Kannel is down")
        assert row["status"] == model.QUEUED and "unreachable" in row["last_error"]
        status = await rig.outbox.status()
        assert (status.gateway_ok, status.waiting) == (False, 1)
        assert "unreachable" in status.last_error
        await asyncio.to_thread(rig.kannel.start)
        rig.smsc.start()

        async def printed() -> list[str] | None:
            return [m for m in rig.smsc.received() if "gateway mati" in m] or None

        await eventually(printed, "the waiting MT reached the fake SMSC after the restart")
        [row] = await rows(rig.engine, SmsOutbox)
        assert row["id"] == outbox_id and row["status"] in (model.ACCEPTED, model.DELIVERED)
        assert row["attempts"] >= 3
        status = await rig.outbox.status()
        assert (status.gateway_ok, status.waiting) == (True, 0)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def test_the_receiver_refuses_requests_without_the_shared_secret(rig: SmsRig) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client:
        for query in ({}, {"key": "wrong"}, {"key": rig.settings.shared_secret[:-1]}):
            async with client.get(f"{rig.receiver_url}/sms/mo",
                                  params={**query, "from": CALLER, "text": AML}) as reply:
                assert reply.status == 403
            async with client.get(f"{rig.receiver_url}/sms/dlr",
                                  params={**query, "token": "x", "type": "1"}) as reply:
                assert reply.status == 403
        key = {"key": rig.settings.shared_secret}
        async with client.get(f"{rig.receiver_url}/sms/dlr",
                              params={**key, "token": "no-such", "type": "1"}) as reply:
            assert reply.status == 404
        async with client.get(f"{rig.receiver_url}/sms/mo", params=key) as reply:
            assert reply.status == 400
    assert await rows(rig.engine, SmsInbox) == []


async def test_the_gateway_watch_says_when_kannel_or_the_smsc_is_down(rig: SmsRig) -> None:
    """What the desk's "SMS gateway down" line is fed from (ntpd_ivr/sms/plugin.py)."""
    gateway = KannelGateway(rig.settings, rig.receiver_url)
    changes: list[SmsGatewayChanged] = []
    watch = GatewayWatch(gateway, rig.outbox, changes.append)
    try:
        async def smsc_online() -> bool:  # the fake SMSC connects a moment after its start
            return (await gateway.probe())[0]
        await eventually(smsc_online, "bearerbox sees the fake SMSC online")
        await watch.check()
        assert changes == [SmsGatewayChanged(True, 0, "")]
        rig.smsc.stop()  # the SMSC away, Kannel running: down, and why

        async def smsc_gone() -> bool:
            return not (await gateway.probe())[0]
        await eventually(smsc_gone, "bearerbox sees the SMSC go")
        await watch.check()
        assert changes[-1] == SmsGatewayChanged(False, 0, "no SMSC online")
        await asyncio.to_thread(rig.kannel.stop)
        await rig.outbox.enqueue(CALLER, "menunggu", "test")
        await watch.check()
        assert (changes[-1].up, changes[-1].waiting) == (False, 1)
        assert "unreachable" in changes[-1].detail
        await watch.check()  # no change: no news
        assert len(changes) == 3
    finally:
        await gateway.close()
