"""Alerts and surge mode over HTTP. Routes, with their least role:

    GET  /api/alerts                         the wall's alerts summary, surge mode and the
                                             poller's counters (supervisor)
    POST /api/alerts/{id}/surge              surge mode on from this alert, or renewed
                                             (supervisor, CSRF; audited)
    POST /api/surge/off                      surge mode off now (supervisor, CSRF; audited)
    GET  /api/warnings/campaigns/{id}/cap    the campaign as a CAP 1.2 alert
                                             (supervisor; application/cap+xml), signed
                                             where [alerts] names a key (sign.py)
    POST /api/alerts/{id}/campaign           a warning campaign from the alert: its text,
                                             the kecamatan it touches (supervisor, CSRF;
                                             201; a second supervisor approves it);
                                             optional body {"trunk", "caller_id"}

Refusals: 404 not-found (no such alert or campaign), 503 unavailable (the audit trail
cannot be written: surge mode is not changed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ntpd_ivr.alerts import store
from ntpd_ivr.alerts.export import campaign_cap, campaign_draft
from ntpd_ivr.alerts.model import touched_kecamatan
from ntpd_ivr.alerts.service import AlertsError, AlertService, NoSuchAlert
from ntpd_ivr.alerts.sign import CapSigner
from ntpd_ivr.campaigns.model import CampaignDraft
from ntpd_ivr.jsontext import dumps
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.web.app import checked_fields, path_id, protect
from ntpd_ivr.web.auth import Session
from ntpd_ivr.web.templates import SESSION_KEY

ALERTS: web.AppKey[AlertService] = web.AppKey("alerts", AlertService)
ROUTING: web.AppKey[Callable[[], RoutingConfig]] = web.AppKey("alerts_routing")
# Stores a campaign draft for `actor` (the campaigns domain's own creation, plugin.py).
CreateCampaign = Callable[[CampaignDraft, str], Awaitable[dict[str, Any]]]
CAMPAIGNS: web.AppKey[CreateCampaign] = web.AppKey("alerts_campaigns")
OUTBOUND: web.AppKey[tuple[str, str]] = web.AppKey("alerts_outbound")  # trunk, caller id
SIGNER: web.AppKey[CapSigner | None] = web.AppKey("alerts_signer")
CAP_TYPE = "application/cap+xml"


def _user(request: web.Request) -> str:
    session: Session = request[SESSION_KEY]
    return session.user


async def listing(request: web.Request) -> web.Response:
    service = request.app[ALERTS]
    return web.json_response({**service.summary(), "counters": service.health()},
                             dumps=dumps)


async def surge_on(request: web.Request) -> web.Response:
    service = request.app[ALERTS]
    alert_id = path_id(request, lambda v: NoSuchAlert(f"no alert {v}"))
    mode = await service.turn_on(alert_id, _user(request))
    return web.json_response({"surge": mode.to_json()}, dumps=dumps)


async def surge_off(request: web.Request) -> web.Response:
    ended = await request.app[ALERTS].turn_off(_user(request))
    return web.json_response({"surge": None, "ended": ended.to_json() if ended else None},
                             dumps=dumps)


async def campaign_export(request: web.Request) -> web.Response:
    service = request.app[ALERTS]
    campaign_id = path_id(request, lambda v: NoSuchAlert(f"no campaign {v}"))
    row = await store.campaign(service.engine, campaign_id)
    if row is None:
        raise NoSuchAlert(f"no campaign {campaign_id}")
    config = request.app[ROUTING]()
    region = config.regions.get(config.default_region)
    body = campaign_cap(row, sender=service.settings.sender, sender_name="NTPD 112",
                        region_name=region.name if region else config.default_region,
                        boundary=region.boundary if region else None)
    signer = request.app[SIGNER]
    if signer is not None:
        body = signer.sign(body)
    return web.Response(body=body, content_type=CAP_TYPE, charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="warning-{campaign_id}.cap.xml"'})


async def campaign_from_alert(request: web.Request) -> web.Response:
    service = request.app[ALERTS]
    alert_id = path_id(request, lambda v: NoSuchAlert(f"no alert {v}"))
    alert, regions = await service.alert(alert_id)
    config = request.app[ROUTING]()
    kecamatan: tuple[str, ...] = ()
    for key in regions:
        region = config.regions.get(key)
        kecamatan += touched_kecamatan(alert, region.boundary if region else None)
    trunk, caller_id = request.app[OUTBOUND]
    body = await checked_fields(request)  # optional: {"trunk": T, "caller_id": N}
    trunk, caller_id = body.get("trunk") or trunk, body.get("caller_id") or caller_id
    if not isinstance(trunk, str) or not isinstance(caller_id, str):
        raise AlertsError("trunk and caller_id must be strings")
    draft = campaign_draft(alert, tuple(dict.fromkeys(kecamatan)), trunk=trunk,
                           caller_id=caller_id)
    created = await request.app[CAMPAIGNS](draft, _user(request))
    return web.json_response({"campaign": created, "alert": alert_id}, status=201,
                             dumps=dumps)


def routes(service: AlertService, routing: Callable[[], RoutingConfig],
           create_campaign: CreateCampaign, outbound: tuple[str, str],
           signer: CapSigner | None = None) -> Callable[[web.Application], None]:
    """The alerts' add_routes for ntpd_ivr.web.app.init(domains=...)."""

    async def stop(_: web.Application) -> None:
        await service.stop()

    def add_routes(app: web.Application) -> None:
        app[ALERTS] = service
        app[ROUTING] = routing
        app[CAMPAIGNS] = create_campaign
        app[OUTBOUND] = outbound
        app[SIGNER] = signer
        app.on_cleanup.append(stop)
        for method, path, handler, name in (
                ("GET", "/api/alerts", listing, "alerts-list"),
                ("POST", r"/api/alerts/{id:\d{1,19}}/surge", surge_on, "alerts-surge-on"),
                ("POST", "/api/surge/off", surge_off, "alerts-surge-off"),
                ("GET", r"/api/warnings/campaigns/{id:\d{1,19}}/cap", campaign_export,
                 "warning-campaign-cap"),
                ("POST", r"/api/alerts/{id:\d{1,19}}/campaign", campaign_from_alert,
                 "alerts-campaign")):
            app.router.add_route(method, path, handler, name=name)
            protect(app, name, "supervisor")

    return add_routes
