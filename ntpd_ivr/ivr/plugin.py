"""The emergency IVR as a plugin: the FastAGI script every 112 call runs (dialplan/)."""

from __future__ import annotations

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.agi.server import Handler
from ntpd_ivr.alerts.events import SurgeChanged
from ntpd_ivr.alerts.plugin import SURGE
from ntpd_ivr.calls.confirm import AgiRecords
from ntpd_ivr.core import Core, Key, Plugin
from ntpd_ivr.ivr.emergency import EmergencyIvr, TransferLink
from ntpd_ivr.ivr.surge import SurgeAudio, SurgeView
from ntpd_ivr.prank.ivr import PrankGate
from ntpd_ivr.prank.plugin import PRANK
from ntpd_ivr.speech import render_text

# The EIDO a neighbouring center sent, linked to its transferred call: provided by the
# transfer plugin (loaded later), read at each call.
TRANSFER_LINK: Key[TransferLink] = Key("transfer-link")


def build_routes(ivr: Handler) -> dict[str, Handler]:
    """FastAGI script name -> handler. Every AGI() in dialplan/ must name one of these."""
    return {dp.SCRIPT_EMERGENCY_IVR: ivr}


def load(core: Core) -> Plugin:
    settings = core.settings.ivr
    warnings = core.settings.warnings

    def surge() -> SurgeView | None:
        # At call time: the alerts domain is loaded after this one (None: not loaded).
        return core.services.get(SURGE)

    # The alert's texts spoken into the warning campaigns' media folder (the controller's
    # path, and Asterisk's), rendered as soon as surge mode goes on.
    audio = SurgeAudio(warnings.media_dir, warnings.asterisk_media_dir,
                       lambda text, out: render_text(text, out, "id"))
    core.bus.subscribe(SurgeChanged, lambda event: audio.prepare(event.mode))
    # The IVR's records never say who the caller is: AMI does (calls/confirm.py). It reads
    # the live routing config through the core's getter (a reload applies to new calls).
    ivr = EmergencyIvr(settings, AgiRecords(core.records), core.routing, core.queue_monitor,
                       prank=PrankGate(core.services[PRANK], settings.prompts_dir),
                       surge=surge, surge_audio=audio,
                       transfer=lambda: core.services.get(TRANSFER_LINK),
                       overflowed=core.bus.publish)
    # No stop of its own: a render in flight is bounded (speech.py's timeouts) and the
    # loop's shutdown cancels its task.
    return Plugin("ivr", agi_scripts=build_routes(ivr))
