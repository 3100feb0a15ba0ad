"""CAP out: a warning campaign as a CAP 1.2 alert; and a campaign from an alert
(docs/alerts.md).

The campaign's title is the headline, its text the description, its target kecamatan the
areas (with their polygons where the region's boundary has them). A campaign still waiting
for its second supervisor is exported with status `Draft` (CAP: "not actionable in its
current form"); an approved one is `Actual`. Not signed: see docs/alerts.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ntpd_ivr.alerts.cap import build_alert
from ntpd_ivr.alerts.model import CapAlert, announcement, clip, information
from ntpd_ivr.campaigns.model import MAX_MESSAGE_CHARS, MAX_TEXT, CampaignDraft, Target
from ntpd_ivr.location.model import Boundary

_UNSAFE = re.compile(r"[\s,<&]")  # CAP: identifier and sender carry none of these


def campaign_areas(target: Mapping[str, Any], region_name: str,
                   boundary: Boundary | None) -> list[dict[str, Any]]:
    kecamatan = [k for k in target.get("kecamatan", []) if isinstance(k, str) and k]
    if not kecamatan:
        polygons = []
        if boundary is not None:
            polygons = [[(lat, lon) for lon, lat in p[0]]
                        for a in boundary.outline for p in a.polygons]
        return [{"desc": region_name, "polygons": polygons}]
    areas = []
    for name in kecamatan:
        polygons = []
        if boundary is not None:
            polygons = [[(lat, lon) for lon, lat in p[0]] for a in boundary.kecamatan
                        if a.kecamatan.casefold() == name.casefold() for p in a.polygons]
        desa = [d for d in target.get("desa", []) if isinstance(d, str) and d]
        desc = f"Kecamatan {name}" + (f" (desa {', '.join(desa)})" if desa else "")
        areas.append({"desc": desc, "polygons": polygons})
    return areas


def campaign_cap(campaign: Mapping[str, Any], *, sender: str, sender_name: str,
                 region_name: str, boundary: Boundary | None) -> bytes:
    approved = campaign["status"] in ("running", "finished") or campaign.get("approved_at")
    sent = campaign.get("approved_at") or campaign["created_at"]
    text = campaign.get("message_text") or campaign["title"]
    regional = []  # one more info: the same warning in the regional language
    if campaign.get("regional_language") and campaign.get("message_text_regional"):
        regional.append({"language": campaign["regional_language"],
                         "description": campaign["message_text_regional"]})
    return build_alert(
        identifier=_UNSAFE.sub("-", f"{sender}-warning-{campaign['id']}"),
        sender=_UNSAFE.sub("-", sender), sent=sent,
        status="Actual" if approved else "Draft",
        note=("cancelled by the center" if campaign["status"] == "cancelled" else ""),
        info={"language": "id-ID", "category": "Safety", "event": "Peringatan dini",
              "urgency": "Immediate", "severity": "Severe", "certainty": "Observed",
              "sender_name": sender_name, "headline": campaign["title"],
              "description": text},
        areas=campaign_areas(campaign.get("target") or {}, region_name, boundary),
        more_info=regional)


def campaign_draft(alert: CapAlert, kecamatan: tuple[str, ...], *, trunk: str,
                   caller_id: str) -> CampaignDraft:
    """A warning campaign from an alert: its headline, its text (what the IVR announces
    and what a caller who presses 8 hears), the contacts of the kecamatan it touches (all
    the center's contacts when it names none). Still needs a second supervisor."""
    text = f"{announcement_text(alert)} {information(alert)}".strip()
    return CampaignDraft(
        title=clip(alert.headline or alert.event, MAX_TEXT), message_text=clip(
            text, MAX_MESSAGE_CHARS), target=Target(kecamatan=kecamatan), trunk=trunk,
        caller_id=caller_id)


def announcement_text(alert: CapAlert) -> str:
    """The announcement's first sentence: what happened, without the IVR's key presses."""
    return announcement(alert).split(". Jika Anda", 1)[0] + "."
