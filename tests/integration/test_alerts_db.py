"""The CAP poller against a local HTTP server (aiohttp on 127.0.0.1) serving the recorded
samples (tests/data/cap), and a real PostgreSQL: the feeds' alerts are stored once each,
matched to the regions, the routing config's rule turns surge mode on (audited); bad,
oversized and entity-laden documents are refused and counted without stopping the poller;
a second poll costs 304s and stores nothing again."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.alerts import cap
from ntpd_ivr.alerts.service import AlertService
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.settings import AlertsSettings
from tests.boundaries import EXAMPLE, with_boundaries
from tests.cap_samples import CapServer, Replay
from tests.conftest import RunningPostgres
from tests.security.api_fixtures import serving_controller_web


@pytest.fixture
async def cap_server() -> AsyncIterator[tuple[CapServer, str]]:
    server = CapServer()
    base = await server.start()
    yield server, base
    await server.stop()


@pytest.fixture
async def engine(db_engine: AsyncEngine) -> AsyncEngine:
    async with db_engine.begin() as conn:
        # The audit trail is append-only: this test's rows are told apart by alert id.
        await conn.execute(text("TRUNCATE cap_alerts"))
        await conn.execute(text(  # surge mode off, as a change (the controllers' restore)
            "UPDATE surge_state SET version = version + 1, alert_id = NULL, "
            "started_at = NULL, ends_at = NULL"))
    return db_engine


async def test_the_poller_stores_matches_refuses_and_turns_surge_on(
        engine: AsyncEngine, cap_server: tuple[CapServer, str], tmp_path: Path) -> None:
    server, base = cap_server
    routing_file = tmp_path / "routing.toml"
    example = with_boundaries(EXAMPLE.read_text(encoding="utf-8"))
    routing_file.write_text(example.replace("auto_surge = false", "auto_surge = true"),
                            encoding="utf-8")
    routing = load_routing_config(routing_file)
    feeds = [f"{base}/nowcast_rss.xml", f"{base}/atom_feed.xml", f"{base}/huge.xml",
             f"{base}/billion_laughs.xml", f"{base}/invalid_no_status.xml",
             "http://127.0.0.1:9/unreachable.xml"]
    settings = AlertsSettings(feeds=",".join(feeds), timeout_seconds=5.0, max_bytes=65_536)
    changes: list[str] = []
    service = AlertService(engine, settings, lambda: routing,
                           changed=lambda: changes.append("changed"),
                           surge_changed=lambda e: changes.append(e.action))
    try:
        await service.poll_once()

        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT identifier, regions, magnitude FROM cap_alerts ORDER BY identifier"))
            ).all()
        assert [(r[0], sorted(r[1]), r[2]) for r in rows] == [
            ("CPA20261207001", [], None),
            ("CSS20261207003", ["palembang", "sumsel"], None),
            ("Indonesia-InaTEWS-earthquakes-20261207192955", ["muba", "sumsel"], 5.8)]
        counters = service.counters
        assert (counters["stored"], counters["matched"], counters["refused"]) == (3, 2, 3)
        assert counters["fetch_failed"] == 1  # the unreachable feed; the others were read
        assert "not valid CAP 1.2" in service.health()["last_refusal"]  # the last feed read

        # On the wall: the two alerts for the center, newest first, and surge mode.
        summary = service.summary()
        assert {a["identifier"] for a in summary["recent"]} == {
            "CSS20261207003", "Indonesia-InaTEWS-earthquakes-20261207192955"}
        quake = next(a for a in summary["recent"] if a["magnitude"] == 5.8)
        assert (quake["severity"], quake["urgency"], quake["source"]) == (
            "Severe", "Immediate", "BMKG (Badan Meteorologi, Klimatologi, dan Geofisika)")
        mode = service.current()
        assert mode is not None and mode.started_by == "rule" and mode.region == "muba"
        assert summary["surge"]["alert_id"] == quake["id"]
        assert "tekan 8" in mode.announcement and "on" in changes
        async with engine.connect() as conn:
            audited = (await conn.execute(text(
                "SELECT actor, action FROM audit_events WHERE subject_type = 'surge' "
                "AND subject_id = :id ORDER BY id"), {"id": str(quake["id"])})).all()
        assert [tuple(a) for a in audited] == [("rule", "surge.on")]

        # Again: every unchanged document is a 304, nothing is stored twice.
        before = dict(server.hits)
        await service.poll_once()
        # An unchanged feed (304) is not followed again: its alerts are read once.
        assert service.counters["not_modified"] == 4  # two feeds, two refused documents
        assert server.hits["inatews_gempa_m58.xml"] == 1
        assert service.counters["stored"] == 3 and service.counters["duplicate"] == 0
        assert server.hits["nowcast_rss.xml"] == before["nowcast_rss.xml"] + 1

        # A supervisor renews it from the other alert, then ends it: both audited.
        nowcast = next(a for a in summary["recent"] if a["magnitude"] is None)
        renewed = await service.turn_on(nowcast["id"], "spv-1")
        assert renewed.started_by == "spv-1" and renewed.region in ("palembang", "sumsel")
        assert await service.turn_off("spv-1") is not None
        assert service.current() is None and changes[-2:] == ["off", "changed"]
        async with engine.connect() as conn:
            actions = (await conn.execute(text(
                "SELECT action FROM audit_events WHERE subject_type = 'surge' "
                "AND actor = 'spv-1' AND subject_id = :id ORDER BY id"),
                {"id": str(nowcast["id"])})).scalars().all()
        assert actions == ["surge.renewed", "surge.off"]
    finally:
        await service.stop()


async def test_a_campaign_is_made_from_an_alert_and_exported_as_valid_cap(
        engine: AsyncEngine, postgres: RunningPostgres, tmp_path: Path) -> None:
    """The controller's own web app: a supervisor makes a warning campaign from the
    nowcast alert (its headline and text, the kecamatan of Palembang it touches), and the
    campaign's CAP export validates against the OASIS schema."""
    routing_file = tmp_path / "routing.toml"
    routing_file.write_text(with_boundaries(EXAMPLE.read_text(encoding="utf-8")),
                            encoding="utf-8")
    routing = load_routing_config(routing_file)
    alerts = AlertService(engine, AlertsSettings(), lambda: routing)
    alert_id = await alerts.handle(Replay().body("nowcast_CSS20261207003_alert.xml"), "test")
    assert alert_id is not None
    palembang = routing.regions["palembang"].boundary
    assert palembang is not None
    # A contact in each of Palembang's kecamatan, and one in Muba the alert does not touch.
    places = [a.kecamatan for a in palembang.kecamatan] + ["Sekayu"]
    numbers = {k: f"+62811{secrets.randbelow(10**7):07d}" for k in places}
    async with engine.begin() as conn:
        for kecamatan, number in numbers.items():
            await conn.execute(text(
                "INSERT INTO warning_contacts (name, number, kecamatan, updated_at, updated_by)"
                " VALUES (:n, :num, :k, now(), 'test')"),
                {"n": f"RT {kecamatan}", "num": number, "k": kecamatan})
    media = tmp_path / "media"
    media.mkdir()
    overrides = {"ivr": {"routing_config": str(routing_file)},
                 "warnings": {"media_dir": str(media), "caller_id": "112"}}
    async with serving_controller_web(engine, postgres.url, tmp_path, overrides) as center:
        headers = await center.session_headers("root")
        async with ClientSession(center.base_url) as http:
            async with http.post(f"/api/alerts/{alert_id}/campaign", headers=headers,
                                 json={}) as reply:
                body = await reply.json()
                assert reply.status == 201, body
            campaign = body["campaign"]
            async with http.get(f"/api/warnings/campaigns/{campaign['id']}/cap",
                                headers=headers) as reply:
                assert reply.status == 200 and reply.content_type == "application/cap+xml"
                document = await reply.read()
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT title, message_text, target, status, created_by FROM warning_campaigns "
            "WHERE id = :id"), {"id": campaign["id"]})).one()
        called = set((await conn.execute(text(
            "SELECT number FROM warning_campaign_contacts WHERE campaign_id = :id"),
            {"id": campaign["id"]})).scalars())
    kecamatan = row.target["kecamatan"]
    assert kecamatan and set(kecamatan) <= {a.kecamatan for a in palembang.kecamatan}
    assert called == {numbers[k] for k in kecamatan}  # Sekayu's contact is not called
    assert (row.title, row.status, row.created_by) == (
        "Peringatan Dini Cuaca Sumatera Selatan", "awaiting-approval", "root")
    assert row.message_text.startswith("BMKG: Peringatan Dini Cuaca Sumatera Selatan.")
    assert "Hujan lebat" in row.message_text
    root = cap.parse_xml(document, 1_000_000)
    assert cap.validation_error(root) is None
    exported = cap.read_alert(root)
    assert exported.status == "Draft" and exported.headline == row.title
    assert [a.desc for a in exported.areas] == [f"Kecamatan {k}" for k in kecamatan]


async def test_a_restart_takes_surge_mode_back_from_the_shared_row(
        engine: AsyncEngine) -> None:
    routing = load_routing_config(EXAMPLE)
    before = AlertService(engine, AlertsSettings(), lambda: routing)
    alert_id = await before.handle(Replay().body("inatews_gempa_m58.xml"), "test")
    assert alert_id is not None
    mode = await before.turn_on(alert_id, "spv-2")
    after = AlertService(engine, AlertsSettings(), lambda: routing)
    await after.start()
    try:
        restored = after.current()
        assert restored is not None
        assert (restored.alert_id, restored.started_by, restored.region) == (
            alert_id, "spv-2", "muba")
        assert abs((restored.ends_at - mode.ends_at).total_seconds()) < 1
        assert restored.announcement == mode.announcement
        await after.turn_off("spv-2")
    finally:
        await after.stop()
    again = AlertService(engine, AlertsSettings(), lambda: routing)
    assert await again.restore_surge() is None  # the row is off
