"""What the call-taker's incident form is built from (the routing config: categories,
regions and their kecamatan/desa lists, agencies), and the screen's text for the page's
script, in the user's language. Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ntpd_ivr.dispatch.model import STATUSES
from ntpd_ivr.i18n import Translator
from ntpd_ivr.incidents.model import DISPOSITIONS, SEVERITIES, WITH_INCIDENT
from ntpd_ivr.location.model import map_config
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.transfer.model import CALL_REASONS, EIDO_REASONS, STATES
from ntpd_ivr.workspace.wrapup import DISPOSED, EXPIRED, FAILED, RELEASED

Text = Callable[..., str]
# The ones the call-taker picks with a button; genuine comes with the saved incident and
# duplicate with a suggested one.
PLAIN_DISPOSITIONS = tuple(d for d in DISPOSITIONS if d not in WITH_INCIDENT)
_SCRIPT_KEYS = ("incident.saved", "incident.saving", "incident.failed", "suggest.attach",
                "suggest.attached", "disposition.none", "wrapup", "dispatch.proposal",
                "dispatch.none",
                "dispatch.connect", "dispatch.notify", "dispatch.no_answer",
                "dispatch.failed", "dispatch.refused", "dispatch.closed",
                "dispatch.closed_mark", "incident.choose", "incident.other",
                "map.outside", "map.outside_unknown", "map.fix", "map.point",
                "transfer.no-contact", *(f"transfer.state.{s}" for s in ("sending", *STATES)))
FIX_SOURCES = ("network", "aml", "els", "link", "call-taker")  # static/map.js, a fix's source


def desk_config(routing: RoutingConfig, t: Translator, tile_url: str = "",
                attribution: str = "") -> dict[str, Any]:
    """The page's JSON: what the form offers, the map (its base layer and the regions'
    boundaries), and its labels in the user's language (the catalogue's `desk.*`, and the
    dispatch statuses)."""
    labels = {key: _template(t, f"desk.{key}") for key in _SCRIPT_KEYS}
    labels.update({f"disposition.{d}": t.code("disposition", d) for d in DISPOSITIONS})
    labels.update({f"wrapup.{o}": t(f"desk.wrapup.{o}") for o in (DISPOSED, EXPIRED, RELEASED,
                                                                   FAILED)})
    labels.update({f"status.{s}": t.code("dispatch", s) for s in STATUSES})
    labels.update({f"map.source.{s}": t(f"desk.map.source.{s}") for s in FIX_SOURCES})
    labels.update({f"transfer.reason.{r}": t.code("transfer-reason", r)
                   for r in (*EIDO_REASONS, *CALL_REASONS)})
    return {
        "default_region": routing.default_region,
        "regions": {key: {"name": r.name, "places": {k: list(v) for k, v in r.places.items()}}
                    for key, r in routing.regions.items()},
        "categories": [c for c in routing.categories],
        "severities": list(SEVERITIES),
        "agencies": {key: a.name for key, a in routing.agencies.items()},
        # The centers each region may transfer a caller to; one without a contact cannot
        # be called (calls come from it only): shown, not offered.
        "neighbours": {region: [{"key": n.key, "name": n.name, "callable": bool(n.contact)}
                                for n in neighbours.values()]
                       for region, neighbours in routing.neighbours.items()},
        "map": map_config(routing.regions.values(), tile_url, attribution),
        "labels": labels,
    }


def _template(t: Text, key: str) -> str:
    """A message with its {placeholders} kept, for the script to fill in."""
    names = ("id", "n", "agency", "reason", "region", "other", "source", "radius", "center")
    return t(key, **{name: "{" + name + "}" for name in names})
