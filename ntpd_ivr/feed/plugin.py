"""The monitoring feed as a plugin (when `feed.url` is set): the figures pushed out."""

from __future__ import annotations

from ntpd_ivr.core import Core, Key, Plugin, Start, Stop
from ntpd_ivr.feed.service import MonitoringFeed, report_figures
from ntpd_ivr.reports.plugin import REPORTS

FEED = Key("feed", MonitoringFeed)


def load(core: Core) -> Plugin:
    settings = core.settings.feed
    if not settings.url:
        return Plugin("feed")
    feed = MonitoringFeed(settings, core.engine, report_figures(core.services[REPORTS]))
    core.services.provide(FEED, feed)

    async def start() -> None:
        feed.start()

    return Plugin("feed", start=start, start_phase=Start.FEED, stop=feed.stop,
                  stop_phase=Stop.FEED)
