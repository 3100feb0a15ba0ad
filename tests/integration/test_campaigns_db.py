"""Warning campaigns against a real PostgreSQL, the real web app and the real record keeper
(spool), with a fake AMI of our own standing in for Asterisk: contacts over HTTP (admin),
the second-supervisor rule, the controller's dialling, outcomes, a restart that resumes
without calling a confirmed contact again, and a database outage that pauses it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.ami.events import (
    ActionResponse,
    ActionResult,
    AmiEvent,
    Hangup,
    OriginateResponse,
    WarningOutcome,
)
from ntpd_ivr.calls.keeper import RecordKeeper
from ntpd_ivr.campaigns import http as warnings_http
from ntpd_ivr.campaigns import model, store
from ntpd_ivr.campaigns.service import WarningService
from ntpd_ivr.db.session import make_engine
from ntpd_ivr.routing.config import parse_routing_config
from ntpd_ivr.routing.engine import LiveState, QueueState
from ntpd_ivr.settings import DatabaseSettings, RecordsSettings, WarningsSettings
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import LiveHub
from tests.conftest import RunningPostgres
from tests.protocol.webtools import Client, csrf_headers, serving_web
from tests.waiting import eventually

CSV = ("name,number,role,kecamatan,desa,language\n"
       "Kades Balai Agung,081200000001,kepala-desa,Sekayu,Balai Agung,id\n"
       "Kades Kayuara,081200000002,kepala-desa,Sekayu,Kayuara,id\n"
       "Guru SD 1,081200000003,guru,Sekayu,Kayuara,id\n"
       "Kades Lais,081200000004,kepala-desa,Lais,Lais,en\n"
       "Kades Balai Agung (lagi),0812-0000-0001,,,,\n")
EXTRA_USERS = {"sari": ("supervisor", "sari-password"), "adi": ("admin", "adi-password")}
PASSWORDS = {"budi": "budi-password", "ani": "ani-password",
             **{name: pw for name, (_, pw) in EXTRA_USERS.items()}}


class FakeAmi:
    """Answers every action; keeps the Originates for the test to answer with events."""

    def __init__(self) -> None:
        self.originates: list[dict[str, str]] = []
        self.live: set[str] = set()
        self.astdb: dict[str, str] = {}

    async def action(self, action: dict[str, str],
                     timeout: float | None = None) -> ActionResult:  # noqa: ASYNC109
        name = action["Action"]
        if name == "Originate":
            self.originates.append(action)
        if name == "DBGet":
            from ntpd_ivr.errors import AmiError
            value = self.astdb.get(action["Key"])
            if value is None:
                raise AmiError("AMI DBGet failed: Database entry not found")
            return ActionResult(_response(), (_db_event(value),))
        return ActionResult(_response())

    def dialled(self) -> list[str]:
        return [a["Channel"] for a in self.originates]


def _response() -> ActionResponse:
    return ActionResponse(name="Response", received_at=time.time(), response="Success",
                          message="")


def _db_event(value: str) -> AmiEvent:
    from ntpd_ivr.ami.events import OtherEvent
    return OtherEvent(name="DBGetResponse", received_at=time.time(),
                      fields=(("Family", "ntpd-warning"), ("Val", value)))


@dataclass
class Queues:
    state: LiveState = field(default_factory=lambda: MappingProxyType({
        "takers-default": QueueState(logged_in=2, available=2, callers=0,
                                     longest_wait_seconds=0.0)}))

    async def snapshot(self) -> LiveState:
        return self.state


def settings(tmp_path: Path) -> WarningsSettings:
    return WarningsSettings(media_dir=str(tmp_path / "media"),
                            asterisk_media_dir="/srv/prompts/warnings", caller_id="+62711112",
                            max_channels=10, calls_per_second=10, min_free_takers=1,
                            ring_seconds=5, ramp_seconds=0)


@dataclass
class Center:
    client: Client
    engine: AsyncEngine
    tmp_path: Path
    keeper: RecordKeeper
    ami: FakeAmi = field(default_factory=FakeAmi)
    queues: Queues = field(default_factory=Queues)
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    web: WarningService | None = None

    def service(self, engine: AsyncEngine | None = None,
                keeper: RecordKeeper | None = None) -> WarningService:
        return WarningService(settings(self.tmp_path), engine or self.engine, self.ami,
                              keeper or self.keeper, self.queues,  # type: ignore[arg-type]
                              publish=lambda k, d: self.published.append((k, dict(d))))

    async def as_user(self, user: str) -> dict[str, str]:
        reply = await self.client.post("/login", json={"user": user,
                                                       "password": PASSWORDS[user]},
                                       headers=await csrf_headers(self.client))
        assert reply.status == 200, await reply.text()
        return {"X-CSRF-Token": (await reply.json())["csrf_token"]}

    async def call(self, user: str, method: str, path: str, body: Any = None,
                   status: int = 200) -> Any:
        headers = await self.as_user(user)
        reply = await self.client.request(method, path, json=body, headers=headers)
        assert reply.status == status, await reply.text()
        return await reply.json()


@pytest.fixture
async def center(db_engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Center]:
    async with db_engine.begin() as conn:
        await conn.execute(text("TRUNCATE warning_attempts, warning_campaign_contacts, "
                                "warning_campaigns, warning_contacts, call_events, "
                                "audit_events RESTART IDENTITY CASCADE"))
    keeper = RecordKeeper(RecordsSettings(spool_dir=str(tmp_path / "spool"),
                                          retry_seconds=0.2), db_engine)
    await keeper.start()
    center = Center(None, db_engine, tmp_path, keeper)  # type: ignore[arg-type]
    center.web = center.service()  # the controller the web app drives

    def domains(users: UserStore, hub: LiveHub) -> tuple[Callable[[web.Application], None],
                                                         ...]:
        for name, (role, password) in EXTRA_USERS.items():
            users.put(name, role, password)
        return (lambda app: warnings_http.add_routes(app, center.web),)

    try:
        async with serving_web(tmp_path, domains=domains) as client:
            center.client = client
            yield center
    finally:
        await keeper.stop()


async def tick(service: WarningService) -> None:
    """One round of the controller, and the Originates it started (their tasks done)."""
    await service.tick()
    await eventually(lambda: not [t for t in service._background.tasks
                                  if t.get_name().startswith("warning-")
                                  and t.get_name() != "warning-campaigns"],
                     "the Originates of the round sent")


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def outcomes_on_record(engine: AsyncEngine, count: int) -> Callable[[], Awaitable[bool]]:
    """True once PostgreSQL holds `count` attempt outcomes (applied from the spool)."""
    async def check() -> bool:
        async with engine.connect() as conn:
            found = (await conn.execute(text(
                "SELECT count(*) FROM call_events WHERE kind = 'warning.outcome'"))).scalar()
        return found == count
    return check


async def test_contacts_are_imported_whole_or_not_at_all(center: Center) -> None:
    refused = await center.call("adi", "POST", "/api/warnings/contacts/import",
                                {"csv": CSV + "Rusak,12345,,,,\n"}, 400)
    assert refused == {"error": "bad-csv", "line": 7,
                       "reason": "'12345' is not an Indonesian telephone number"}
    assert (await center.call("adi", "GET", "/api/warnings/contacts"))["contacts"] == []
    await center.call("budi", "POST", "/api/warnings/contacts/import", {"csv": CSV}, 403)

    counts = await center.call("adi", "POST", "/api/warnings/contacts/import", {"csv": CSV},
                               201)
    assert counts == {"rows": 5, "merged_duplicates": 1, "added": 4, "updated": 0}
    contacts = (await center.call("adi", "GET", "/api/warnings/contacts"))["contacts"]
    assert sorted(c["number"] for c in contacts) == [f"+6281200000{i:03d}" for i in range(1, 5)]
    merged = next(c for c in contacts if c["number"] == "+6281200000001")
    assert merged["name"] == "Kades Balai Agung (lagi)" and merged["role"] == "kepala-desa"

    edited = await center.call("adi", "POST", f"/api/warnings/contacts/{merged['id']}",
                               {"number": "0812 0000 0009", "role": "Camat"})
    assert (edited["number"], edited["role"]) == ("+6281200000009", "camat")
    await center.call("adi", "POST", f"/api/warnings/contacts/{merged['id']}",
                      {"number": "0812-0000-0002"}, 409)  # another contact has it
    await center.call("adi", "POST", f"/api/warnings/contacts/{merged['id']}",
                      {"number": "112"}, 400)
    async with center.engine.connect() as conn:
        actions = [r[0] for r in await conn.execute(text(
            "SELECT action FROM audit_events ORDER BY id"))]
    assert actions == ["contacts.imported", "contact.updated"]


async def create_campaign(center: Center, user: str = "budi",
                          **extra: Any) -> dict[str, Any]:
    body = {"title": "Banjir Sekayu", "message_text": "Peringatan banjir di Sekayu.",
            "kecamatan": ["Sekayu"], "roles": ["kepala-desa"], "max_attempts": 2,
            "no_answer_seconds": 0, "busy_seconds": 0, "failed_seconds": 0, **extra}
    return dict(await center.call(user, "POST", "/api/warnings/campaigns", body, 201))


async def test_second_supervisor_dial_outcomes_restart_and_report(center: Center) -> None:
    await center.call("adi", "POST", "/api/warnings/contacts/import", {"csv": CSV}, 201)
    campaign = await create_campaign(center)
    assert campaign["contacts"] == 2 and campaign["status"] == "awaiting-approval"
    assert campaign["message_file"].startswith("/srv/prompts/warnings/message-")
    assert list((center.tmp_path / "media").glob("message-*.wav"))
    cid = campaign["id"]

    service = center.web
    assert service is not None
    await tick(service)
    assert center.ami.originates == []  # not approved: never dials
    await center.call("ani", "POST", f"/api/warnings/campaigns/{cid}/approve", {}, 403)
    refused = await center.call("budi", "POST", f"/api/warnings/campaigns/{cid}/approve",
                                {}, 409)
    assert "second supervisor" in refused["reason"]
    page = await center.client.get("/warnings", headers={"Accept": "text/html"})
    html = await page.text()
    assert page.status == 200 and "Banjir Sekayu" in html and "menunggu persetujuan" in html
    assert 'data-action="approve"' not in html  # budi created it: no approve button for him
    await center.call("sari", "POST", f"/api/warnings/campaigns/{cid}/approve", {})

    await tick(service)
    assert sorted(center.ami.dialled()) == ["PJSIP/081200000001@warning-trunk",
                                            "PJSIP/081200000002@warning-trunk"]
    first = {a["Channel"]: a for a in center.ami.originates}
    confirm = first["PJSIP/081200000001@warning-trunk"]["ChannelId"]
    busy = first["PJSIP/081200000002@warning-trunk"]["ChannelId"]
    assert "NTPD_WARNING_MESSAGE=/srv/prompts/warnings/message-" in first[
        "PJSIP/081200000001@warning-trunk"]["Variable"]
    now = time.time()
    for event in (OriginateResponse(name="OriginateResponse", received_at=now,
                                    action_id="a", channel="", uniqueid=confirm,
                                    response="Success", reason=4),
                  WarningOutcome(name="WarningOutcome", received_at=now, uniqueid=confirm,
                                 outcome="confirmed", plays="1"),
                  OriginateResponse(name="OriginateResponse", received_at=now,
                                    action_id="a", channel="", uniqueid=busy,
                                    response="Failure", reason=0),
                  Hangup(name="Hangup", received_at=now, uniqueid=busy, linkedid=busy,
                         channel="PJSIP/warning-trunk-00000001", cause=17, cause_txt="Busy")):
        service.on_event(event)
    await until(outcomes_on_record(center.engine, 2))
    # Progress went to the live hub (topic "warnings") as it happened.
    last = [d for k, d in center.published if k == "campaign.progress"][-1]
    assert last["by_outcome"]["confirmed"] == 1 and last["by_outcome"]["busy"] == 1
    assert last["attempts"] == 2 and last["in_flight"] == 0

    # A restart: a new controller resumes from PostgreSQL. The busy contact is called
    # again (spacing 0 s); the confirmed one never.
    center.ami.originates.clear()
    restarted = center.service()
    await tick(restarted)
    assert center.ami.dialled() == ["PJSIP/081200000002@warning-trunk"]
    second = center.ami.originates[0]["ChannelId"]
    assert second.startswith(confirm.split("-")[0] + "-2-2-")  # contact 2, attempt 2

    # This one's events are lost (the controller was down): the channel is gone and
    # AstDB says the dialplan heard no 1: answered, not confirmed; the campaign ends.
    center.ami.astdb[second] = "answered"
    again = center.service()
    await tick(again)  # resumed: the attempt is in doubt until its channel is gone
    assert second in again.attempts
    again.attempts[second].dialed_at -= 60  # long past its ring time
    again._next_settle = 0.0
    await tick(again)
    await until(outcomes_on_record(center.engine, 3))
    await tick(again)
    assert (await center.call("budi", "GET", "/api/warnings/campaigns"))["campaigns"][0][
        "status"] == "finished"

    report = await center.call("sari", "GET", f"/api/warnings/campaigns/{cid}/report")
    assert (report["reached"], report["confirmed"], report["attempts"]) == (2, 1, 3)
    assert report["by_outcome"]["answered"] == 1
    assert report["approved_by"] == "sari" and report["created_by"] == "budi"
    assert report["first_confirmed_seconds"] is not None
    csv_reply = await center.client.get(f"/api/warnings/campaigns/{cid}/report.csv")
    lines = (await csv_reply.text()).splitlines()
    assert lines[0].startswith("contact_id,name,number,outcome,attempts")
    assert len(lines) == 3 and ",confirmed,1," in "\n".join(lines)
    async with center.engine.connect() as conn:
        audit = [tuple(r) for r in await conn.execute(text(
            "SELECT actor, action FROM audit_events WHERE subject_type = 'warning_campaign' "
            "ORDER BY id"))]
    assert audit == [("budi", "campaign.created"), ("sari", "campaign.approved"),
                     ("controller", "campaign.finished")]


async def test_pacing_pauses_while_112_callers_wait_then_resumes(center: Center) -> None:
    await center.call("adi", "POST", "/api/warnings/contacts/import", {"csv": CSV}, 201)
    cid = (await create_campaign(center))["id"]
    await center.call("sari", "POST", f"/api/warnings/campaigns/{cid}/approve", {})
    service = center.web
    assert service is not None
    center.queues.state = MappingProxyType({"takers-default": QueueState(2, 2, 3, 45.0)})
    await tick(service)
    assert center.ami.originates == [] and service.paused_reason == "queue-wait"
    center.queues.state = MappingProxyType({"takers-default": QueueState(2, 0, 0, 0.0)})
    await tick(service)
    assert center.ami.originates == [] and service.paused_reason == "free-takers"
    center.queues.state = MappingProxyType({"takers-default": QueueState(2, 2, 0, 0.0)})
    await tick(service)
    assert len(center.ami.originates) == 2 and service.paused_reason == ""
    await center.call("budi", "POST", f"/api/warnings/campaigns/{cid}/cancel", {})


async def test_a_short_112_wait_holds_new_calls_and_the_ramp_goes_on_from_where_it_stood(
        center: Center) -> None:
    many = "name,number,role,kecamatan,desa,language\n" + "".join(
        f"Kades {i},0812000001{i:02d},kepala-desa,Sekayu,Desa {i},id\n" for i in range(20))
    await center.call("adi", "POST", "/api/warnings/contacts/import", {"csv": many}, 201)
    cid = (await create_campaign(center, max_attempts=1))["id"]
    await center.call("sari", "POST", f"/api/warnings/campaigns/{cid}/approve", {})
    now = [1000.0]
    ramped = replace(settings(center.tmp_path), ramp_seconds=60, ring_seconds=600)
    service = WarningService(ramped, center.engine, center.ami, center.keeper,
                             center.queues, clock=lambda: now[0])  # type: ignore[arg-type]
    await tick(service)  # the ramp's first second: one channel
    assert len(center.ami.originates) == 1

    now[0] = 1030.0  # a 112 caller has waited 7 s: above the hold (5 s), below the pause
    center.queues.state = MappingProxyType({"takers-default": QueueState(2, 2, 1, 7.0)})
    await tick(service)
    assert len(center.ami.originates) == 1 and service.paused_reason == "queue-busy"

    now[0] = 1090.0  # calm again after 60 s held: the ramp is at 30 s, not at 90 s
    center.queues.state = MappingProxyType({"takers-default": QueueState(2, 2, 0, 0.0)})
    await tick(service)
    # Half-way up: 5 channels (1 in use) and 5 calls/s; at full speed it would be 9.
    assert len(center.ami.originates) == 1 + 4 and service.paused_reason == ""

    # Every contact busy (one attempt each), the campaign cancelled: the next campaign on
    # the trunk starts with the ramp's one call again, not where this one stood.
    for action in center.ami.originates:
        service.on_event(OriginateResponse(name="OriginateResponse", received_at=now[0],
                                           action_id="a", channel="",
                                           uniqueid=action["ChannelId"],
                                           response="Failure", reason=5))
    assert service.attempts == {}
    await center.call("budi", "POST", f"/api/warnings/campaigns/{cid}/cancel", {})
    now[0] = 1093.0
    await tick(service)
    assert service.runs == {}
    second = (await create_campaign(center, max_attempts=1))["id"]
    await center.call("sari", "POST", f"/api/warnings/campaigns/{second}/approve", {})
    now[0] = 1096.0
    await tick(service)
    assert len(center.ami.originates) == 5 + 1
    await center.call("budi", "POST", f"/api/warnings/campaigns/{second}/cancel", {})


async def test_database_outage_pauses_dialling_and_spools_outcomes(
        center: Center, postgres_factory: Callable[[], Awaitable[RunningPostgres]],
        tmp_path: Path) -> None:
    private = await postgres_factory()
    engine = make_engine(DatabaseSettings(url=private.url, connect_timeout_seconds=1,
                                          statement_timeout_seconds=2))
    keeper = RecordKeeper(RecordsSettings(spool_dir=str(tmp_path / "spool-private"),
                                          retry_seconds=0.2), engine)
    await keeper.start()
    try:
        await store.import_contacts(engine, model.parse_contacts_csv(CSV), "adi")
        created = await store.create_campaign(
            engine, model.CampaignDraft("Longsor", "Awas longsor.", model.Target(),
                                        "warning-trunk", "+62711112",
                                        model.RetryPolicy(2, 0, 0, 0)),
            "/srv/prompts/warnings/m", "budi")
        await store.approve(engine, created["id"], "sari")
        service = center.service(engine, keeper)
        await tick(service)
        assert len(center.ami.originates) == 4
        keys = [a["ChannelId"] for a in center.ami.originates]

        await asyncio.to_thread(private.server.stop)
        now = time.time()
        for key in keys:  # every contact busy: each one is due again at once
            service.on_event(OriginateResponse(name="OriginateResponse", received_at=now,
                                               action_id="a", channel="", uniqueid=key,
                                               response="Failure", reason=5))
        await until(lambda: _spooled(keeper, 4))
        center.ami.originates.clear()
        for _ in range(3):
            await tick(service)
        assert center.ami.originates == [] and service.paused_reason == "database"

        await asyncio.to_thread(private.server.start)
        await until(lambda: _spooled(keeper, 0), seconds=60)
        deadline = time.monotonic() + 60
        while not center.ami.originates:
            assert time.monotonic() < deadline, "dialling did not resume"
            await tick(service)
            await asyncio.sleep(0.3)
        _, attempts = await store.campaign_state(engine, created["id"])
        assert sorted(a.outcome for a in attempts if a.attempt == 1) == ["busy"] * 4
    finally:
        await keeper.stop()
        await engine.dispose()


async def _spooled(keeper: RecordKeeper, pending: int) -> bool:
    return keeper.state()["pending"] == pending


EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
WARNING_LINE = '[outbound_trunks.warning-trunk]\nnumber_format = "national"\n'
EXAMPLE_TEXT = EXAMPLE.read_text()


async def test_a_warning_trunk_is_dialled_in_the_form_it_says(center: Center) -> None:
    assert WARNING_LINE in EXAMPLE_TEXT
    config = parse_routing_config(EXAMPLE_TEXT.replace(
        WARNING_LINE, WARNING_LINE.replace("national", "e164")), str(EXAMPLE))
    await center.call("adi", "POST", "/api/warnings/contacts/import", {"csv": CSV}, 201)
    cid = (await create_campaign(center))["id"]
    await center.call("sari", "POST", f"/api/warnings/campaigns/{cid}/approve", {})
    service = center.web
    assert service is not None
    service.routing = lambda: config
    await tick(service)
    assert sorted(center.ami.dialled()) == ["PJSIP/+6281200000001@warning-trunk",
                                            "PJSIP/+6281200000002@warning-trunk"]


REGIONAL_CSV = ("name,number,role,kecamatan,desa,language\n"
                "Kades Balai Agung,081200000001,kepala-desa,Sekayu,Balai Agung,id\n"
                "Kades Kayuara,081200000002,kepala-desa,Sekayu,Kayuara,jv\n"
                "Kades Soak Baru,081200000005,kepala-desa,Sekayu,Soak Baru,en\n")


async def test_a_campaign_in_bahasa_indonesia_and_a_regional_language(
        center: Center) -> None:
    """The settings name a regional language (Javanese here): its contacts can be imported,
    a campaign carries its message in both, each contact hears the message of their
    language (the prompts around it in Bahasa Indonesia: prompts/ has id and en), and the
    campaign's CAP export has one info per language, valid CAP 1.2."""
    from ntpd_ivr.alerts import cap
    from ntpd_ivr.alerts import store as alerts_store
    from ntpd_ivr.alerts.export import campaign_cap

    service = center.web
    assert service is not None
    # Without a regional language in the settings, neither a jv contact nor a jv message.
    refused = await center.call("adi", "POST", "/api/warnings/contacts/import",
                                {"csv": REGIONAL_CSV}, 400)
    assert refused["line"] == 3 and "one of id, en, not 'jv'" in refused["reason"]
    service.settings = replace(service.settings, regional_language="jv",
                               regional_language_name="Basa Jawa")
    await center.call("adi", "POST", "/api/warnings/contacts/import",
                      {"csv": REGIONAL_CSV}, 201)
    await center.as_user("budi")
    page = await (await center.client.get("/warnings", headers={"Accept": "text/html"})).text()
    assert 'name="message_text_regional"' in page and "Pesan dalam Basa Jawa" in page
    campaign = await create_campaign(
        center, message_text="Peringatan banjir di Sekayu.",
        message_text_regional="Pènget banjir ing Sekayu.")
    assert campaign["contacts"] == 3 and campaign["regional_language"] == "jv"
    assert campaign["message_file_regional"].startswith("/srv/prompts/warnings/message-")
    assert campaign["message_file_regional"] != campaign["message_file"]
    assert len(list((center.tmp_path / "media").glob("message-*.wav"))) == 2
    await center.call("sari", "POST", f"/api/warnings/campaigns/{campaign['id']}/approve", {})

    await tick(service)
    heard = {a["Channel"].split("@")[0]: dict(v.split("=", 1) for v in a["Variable"].split(","))
             for a in center.ami.originates}
    assert {number: (v["NTPD_WARNING_MESSAGE"], v["NTPD_WARNING_LANGUAGE"])
            for number, v in heard.items()} == {
        "PJSIP/081200000001": (campaign["message_file"], "id"),
        "PJSIP/081200000002": (campaign["message_file_regional"], "id"),
        "PJSIP/081200000005": (campaign["message_file"], "en")}

    row = await alerts_store.campaign(center.engine, campaign["id"])
    assert row is not None
    root = cap.parse_xml(campaign_cap(row, sender="ntpd112@example.go.id",
                                      sender_name="NTPD 112", region_name="Muba",
                                      boundary=None), 1_000_000)
    assert cap.validation_error(root) is None
    infos = root.findall(f"{{{cap.NS}}}info")
    assert [(i.findtext(f"{{{cap.NS}}}language"), i.findtext(f"{{{cap.NS}}}description"))
            for i in infos] == [("id-ID", "Peringatan banjir di Sekayu."),
                                ("jv", "Pènget banjir ing Sekayu.")]
    assert infos[1].findtext(f"{{{cap.NS}}}headline") == "Banjir Sekayu"


async def test_a_regional_message_needs_a_regional_language_in_the_settings(
        center: Center) -> None:
    await center.call("adi", "POST", "/api/warnings/contacts/import", {"csv": CSV}, 201)
    refused = await center.call(
        "budi", "POST", "/api/warnings/campaigns",
        {"title": "Banjir", "message_text": "Peringatan banjir.", "kecamatan": ["Sekayu"],
         "message_text_regional": "Pènget banjir."}, 400)
    assert "no regional language is set (settings warnings.regional_language)" in refused[
        "reason"]
    page = await (await center.client.get("/warnings", headers={"Accept": "text/html"})).text()
    assert "Banjir" not in page and 'name="message_text_regional"' not in page
