"""Attacks on the alerts (issue 24): the surge and CAP routes against the controller's own
web app (wrong role, no session, no CSRF token, an alert or campaign that does not exist),
and hostile CAP feeds against the real poller on a local server (entity expansion, an
external entity, a document too big by its header or by its length, a redirect, a link
to a file): each refused with its reason, counted, and the next document still read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession, web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.alerts import cap
from ntpd_ivr.alerts.service import AlertService
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.settings import AlertsSettings, validate_alerts
from tests.cap_samples import Replay, make_signer
from tests.conftest import RunningPostgres
from tests.security.api_fixtures import ControllerWeb, serving_controller_web

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
SURGE_ROUTES = [("POST", "/api/alerts/1/surge"), ("POST", "/api/surge/off"),
                ("GET", "/api/alerts"), ("GET", "/api/warnings/campaigns/1/cap")]


@pytest.fixture
async def controller(db_engine: AsyncEngine, postgres: RunningPostgres,
                     tmp_path: Path) -> AsyncIterator[ControllerWeb]:
    async with serving_controller_web(db_engine, postgres.url, tmp_path) as web_app:
        yield web_app


async def refused(reply: ClientResponse, status: int, error: str) -> dict[str, Any]:
    body = await reply.json()
    assert (reply.status, body["error"]) == (status, error), body
    assert body["reason"]
    return dict(body)


async def serving(app: web.Application) -> tuple[web.AppRunner, str]:
    """The hostile server on 127.0.0.1 (a free port), and its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def refusals_of_one_poll(service: AlertService, runner: web.AppRunner) -> list[str]:
    """One poll of every feed, then the server stopped: the refusals in order, each as
    '<the URL's last part>: <reason>'."""
    reasons: list[str] = []
    service.refuse = lambda source, reason: reasons.append(  # type: ignore[method-assign]
        f"{source.rsplit('/', 1)[-1]}: {reason}")
    try:
        await service.poll_once()
    finally:
        await service.stop()
        await runner.cleanup()
    return reasons


@pytest.mark.parametrize(("method", "path"), SURGE_ROUTES)
async def test_a_call_taker_can_neither_see_alerts_nor_turn_surge_mode_on(
        controller: ControllerWeb, method: str, path: str) -> None:
    headers = await controller.session_headers("ani")
    async with ClientSession(controller.base_url) as http, \
            http.request(method, path, headers=headers, json={}) as reply:
        await refused(reply, 403, "forbidden")


@pytest.mark.parametrize(("method", "path"), SURGE_ROUTES)
async def test_without_a_session_every_alerts_route_is_refused(
        controller: ControllerWeb, method: str, path: str) -> None:
    # A POST without the CSRF cookie is refused before the session is looked at.
    status, error = (403, "csrf") if method == "POST" else (401, "unauthenticated")
    async with ClientSession(controller.base_url) as http, \
            http.request(method, path, json={}) as reply:
        await refused(reply, status, error)


async def test_surge_mode_needs_the_csrf_token_and_an_alert_that_exists(
        controller: ControllerWeb) -> None:
    headers = await controller.session_headers("root")
    cookie_only = {"Cookie": headers["Cookie"]}
    async with ClientSession(controller.base_url) as http:
        async with http.post("/api/surge/off", headers=cookie_only, json={}) as reply:
            await refused(reply, 403, "csrf")
        async with http.post("/api/alerts/999999999/surge", headers=headers, json={}) as reply:
            assert "no alert" in (await refused(reply, 404, "not-found"))["reason"]
        async with http.post("/api/alerts/99999999999999999999/surge", headers=headers,
                             json={}) as reply:
            assert reply.status == 404
        async with http.get("/api/warnings/campaigns/999999999/cap", headers=headers) as reply:
            await refused(reply, 404, "not-found")
        async with http.post("/api/surge/off", headers=headers, json={}) as reply:
            assert reply.status == 200 and (await reply.json())["ended"] is None


HOSTILE = {
    "laughs.xml": (Path(__file__).resolve().parents[1] / "data" / "cap"
                   / "billion_laughs.xml").read_bytes(),
    "xxe.xml": b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">'
               b']><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;'
               b'</identifier></alert>',
    "links-a-file.xml": b'<rss version="2.0"><channel><item><link>file:///etc/passwd</link>'
                        b'</item></channel></rss>',
    "not-xml.xml": b"\x00\xff garbage <<<",
}


async def test_hostile_feeds_are_refused_and_the_poller_reads_on(
        db_engine: AsyncEngine) -> None:
    replay = Replay()

    async def hostile(request: web.Request) -> web.StreamResponse:
        return web.Response(body=HOSTILE[request.match_info["name"]],
                            content_type="application/xml")

    async def declared_huge(_: web.Request) -> web.StreamResponse:
        return web.Response(body=b"<a>" + b"x" * 70_000 + b"</a>",
                            content_type="application/xml")

    async def moved(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data")

    async def good(_: web.Request) -> web.StreamResponse:
        return web.Response(body=replay.body("inatews_gempa_m58.xml"),
                            content_type="application/cap+xml")

    app = web.Application()
    app.router.add_get("/h/{name}", hostile)
    app.router.add_get("/huge.xml", declared_huge)
    app.router.add_get("/moved.xml", moved)
    app.router.add_get("/good.xml", good)
    runner, base = await serving(app)
    async with db_engine.begin() as conn:
        await conn.execute(text("TRUNCATE cap_alerts"))
    feeds = [f"{base}/h/{name}" for name in HOSTILE] + [
        f"{base}/huge.xml", f"{base}/moved.xml", f"{base}/good.xml"]
    routing = load_routing_config(EXAMPLE)
    service = AlertService(db_engine, AlertsSettings(feeds=",".join(feeds), max_bytes=65_536),
                           lambda: routing)
    reasons = await refusals_of_one_poll(service, runner)
    assert reasons == [
        "laughs.xml: a DTD is not accepted (entity expansion refused)",
        "xxe.xml: a DTD is not accepted (entity expansion refused)",
        "links-a-file.xml: link 'file:///etc/passwd' is not an http(s) URL",
        reasons[3],
        "huge.xml: document larger than 65536 bytes (Content-Length 70007)",
    ]
    assert reasons[3].startswith("not-xml.xml: not well-formed XML")
    assert service.counters["fetch_failed"] == 1  # the redirect: not followed
    assert service.counters["stored"] == 1  # the good alert after all of them
    async with db_engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM cap_alerts"))).scalar() == 1


async def test_a_feed_with_a_certificate_takes_only_alerts_signed_with_its_key(
        db_engine: AsyncEngine, tmp_path: Path) -> None:
    """[alerts] feed_certificates: the feed's alerts (a linked one too) are refused unsigned,
    signed with another key, or changed after signing, each with its reason; a signed one
    is taken; a feed without a certificate still takes unsigned alerts."""
    bmkg, stranger = make_signer(tmp_path, "bmkg"), make_signer(tmp_path, "stranger")
    replay = Replay()
    quake, nowcast = replay.body("inatews_gempa_m58.xml"), replay.body(
        "nowcast_CSS20261207003_alert.xml")
    signed = bmkg.sign(quake)
    documents = {
        "signed.xml": signed,
        "unsigned.xml": quake,
        "other-key.xml": stranger.sign(quake),
        "changed.xml": signed.replace(b"tidak berpotensi tsunami",
                                      b"berpotensi tsunami"),
        "rss.xml": (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                    b"<item><link>/linked-unsigned.xml</link></item></channel></rss>"),
        "linked-unsigned.xml": nowcast,
        "open.xml": nowcast,
    }
    assert b"berpotensi tsunami" in documents["changed.xml"] != signed

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.Response(body=documents[request.match_info["name"]],
                            content_type="application/xml")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner, base = await serving(app)
    async with db_engine.begin() as conn:
        await conn.execute(text("TRUNCATE cap_alerts"))
    checked = ["unsigned.xml", "other-key.xml", "changed.xml", "rss.xml", "signed.xml"]
    cert = tmp_path / "bmkg-cert.pem"
    settings = AlertsSettings(
        feeds=",".join(f"{base}/{name}" for name in [*checked, "open.xml"]),
        feed_certificates=",".join(f"{base}/{name} {cert}" for name in checked))
    validate_alerts(settings, "test.toml")
    service = AlertService(db_engine, settings, lambda: load_routing_config(EXAMPLE))
    reasons = await refusals_of_one_poll(service, runner)
    assert reasons[0] == ("unsigned.xml: not signed: this feed's alerts must carry an XML "
                          "Signature (alerts.feed_certificates)")
    assert reasons[1].startswith("other-key.xml: signature does not verify with the feed's "
                                 "certificate")
    assert reasons[2].startswith("changed.xml: signature does not verify with the feed's "
                                 "certificate")
    assert reasons[3].startswith("linked-unsigned.xml: not signed")
    assert len(reasons) == 4
    async with db_engine.connect() as conn:
        stored = (await conn.execute(text(
            "SELECT source_url, identifier FROM cap_alerts ORDER BY id"))).all()
    # The signed quake (what its signature covers), and the open feed's unsigned nowcast.
    assert [(url.rsplit("/", 1)[-1], ident) for url, ident in stored] == [
        ("signed.xml", cap.read_alert(cap.parse_xml(quake, 1_000_000)).identifier),
        ("open.xml", "CSS20261207003")]


@pytest.mark.parametrize(("certificates", "message"), [
    ("http://127.0.0.1:9/a.xml", "give '<feed URL> <certificate file>'"),
    ("http://127.0.0.1:9/other.xml {cert}", "is not one of alerts.feeds"),
    ("http://127.0.0.1:9/a.xml {key}", "is not a PEM certificate file"),
    ("http://127.0.0.1:9/a.xml /nonexistent.pem", "is not a PEM certificate file"),
])
def test_feed_certificates_are_checked_at_start(tmp_path: Path, certificates: str,
                                                 message: str) -> None:
    make_signer(tmp_path, "bmkg")
    settings = AlertsSettings(feeds="http://127.0.0.1:9/a.xml", feed_certificates=(
        certificates.format(cert=tmp_path / "bmkg-cert.pem", key=tmp_path / "bmkg-key.pem")))
    with pytest.raises(ConfigError, match=message) as caught:
        validate_alerts(settings, "ntpd-ivr.toml")
    assert "ntpd-ivr.toml: alerts.feed_certificates" in str(caught.value)
