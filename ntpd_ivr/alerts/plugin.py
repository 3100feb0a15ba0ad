"""CAP alerts and surge mode as a plugin (docs/alerts.md).

For the IVR (read at call time, the alerts are loaded after it):

    surge = core.services.get(SURGE)          # None: no alerts domain loaded
    mode = surge.current() if surge else None # SurgeMode (ntpd_ivr/alerts/model.py) or None
    mode.announcement, mode.information, mode.headline, mode.ends_at
"""

from __future__ import annotations

from typing import Any, Protocol

from ntpd_ivr.alerts import http
from ntpd_ivr.alerts.events import AlertsChanged
from ntpd_ivr.alerts.model import SurgeMode
from ntpd_ivr.alerts.service import AlertService
from ntpd_ivr.alerts.sign import CapSigner
from ntpd_ivr.campaigns.model import CampaignDraft
from ntpd_ivr.campaigns.plugin import WARNINGS
from ntpd_ivr.campaigns.service import create_campaign
from ntpd_ivr.core import Core, Key, Plugin
from ntpd_ivr.settings import alert_feeds
from ntpd_ivr.wall.plugin import ALERT_SUMMARY


class SurgeView(Protocol):
    def current(self) -> SurgeMode | None: ...


ALERTS = Key("alerts", AlertService)
# Surge mode as the IVR reads it: current() is the mode now (None when off or ended).
SURGE: Key[SurgeView] = Key("surge")


def load(core: Core) -> Plugin:
    bus, warnings = core.bus, core.settings.warnings
    alerts = AlertService(core.engine, core.settings.alerts, core.routing,
                          changed=lambda: bus.publish(AlertsChanged()),
                          surge_changed=bus.publish)
    core.services.provide(ALERTS, alerts)
    core.services.provide(SURGE, alerts)
    core.services.provide(ALERT_SUMMARY, alerts.summary)

    async def campaign(draft: CampaignDraft, actor: str) -> dict[str, Any]:
        """The campaigns domain's own creation (validated, audio made, audited), shown on
        the warnings page as any other new campaign."""
        service = core.services[WARNINGS]
        created = await create_campaign(service.settings, service.engine, draft, actor)
        service.changed("campaign.created", {"campaign": created["id"]})
        return created

    trunks = [t.strip() for t in warnings.trunks.split(",") if t.strip()]
    settings = core.settings.alerts
    routes = http.routes(alerts, core.routing, campaign,
                         (trunks[0] if trunks else "", warnings.caller_id),
                         CapSigner.from_files(settings.signing_key_file,
                                              settings.signing_cert_file))
    if not alert_feeds(core.settings.alerts):  # nothing to poll: no alerts, no surge mode
        return Plugin("alerts", routes=routes)
    return Plugin("alerts", routes=routes, start=alerts.start, stop=alerts.stop,
                  health=alerts.health)
