"""Request bodies in, typed values out; a BadInput names the field and what it needs."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ntpd_ivr.incidents.exceptions import IncidentsError
from ntpd_ivr.incidents.model import DISPOSITIONS, SEVERITIES, WITH_INCIDENT, IncidentDraft
from ntpd_ivr.routing.config import RoutingConfig

MAX_DESCRIPTION_CHARS = 2000
MAX_TEXT_CHARS = 200
MAX_PEOPLE = 100_000
MAX_UNIQUEID_CHARS = 64


class BadInput(IncidentsError, ValueError):
    """HTTP 400: the request says something the center cannot record."""


def text(body: Mapping[str, Any], key: str, *, required: bool = True,
         limit: int = MAX_TEXT_CHARS) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise BadInput(f"{key} must be a string")
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise BadInput(f"{key} is required")
    if len(value) > limit or not value.replace("\n", " ").isprintable():
        raise BadInput(f"{key} must be at most {limit} printable characters")
    return value


def whole(body: Mapping[str, Any], key: str, *, low: int, high: int, default: int | None = None
          ) -> int:
    value = body.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)  # from a form
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadInput(f"{key} must be a whole number {low}-{high}")
    return value


def _coordinate(body: Mapping[str, Any], key: str, limit: float) -> float | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadInput(f"{key} must be a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not -limit <= value <= limit:
        raise BadInput(f"{key} must be -{limit:g}..{limit:g} degrees")
    return float(value)


def incident_draft(body: Mapping[str, Any], config: RoutingConfig) -> IncidentDraft:
    region = text(body, "region")
    if region not in config.regions:
        raise BadInput(f"region: no region {region!r} (known: {', '.join(sorted(config.regions))})")
    category = text(body, "category")
    if category not in config.categories:
        raise BadInput(f"category: no category {category!r} "
                       f"(known: {', '.join(sorted(config.categories))})")
    severity = text(body, "severity")
    if severity not in SEVERITIES:
        raise BadInput(f"severity must be one of {', '.join(SEVERITIES)}")
    lat, lon = _coordinate(body, "lat", 90.0), _coordinate(body, "lon", 180.0)
    if (lat is None) != (lon is None):
        raise BadInput("lat and lon come together")
    return IncidentDraft(
        region=region, category=category, kecamatan=text(body, "kecamatan"),
        description=text(body, "description", limit=MAX_DESCRIPTION_CHARS),
        severity=severity,
        people_involved=whole(body, "people_involved", low=0, high=MAX_PEOPLE, default=0),
        desa=text(body, "desa", required=False), address=text(body, "address", required=False),
        lat=lat, lon=lon)


SAVE_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def save_key(body: Mapping[str, Any]) -> str | None:
    """The screen's key of the draft it saves (optional): a save sent again with the same
    key finds the incident the first one made (docs/ha.md, "PostgreSQL")."""
    value = body.get("save_key")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not SAVE_KEY.fullmatch(value):
        raise BadInput("save_key must be 16-64 characters of A-Z a-z 0-9 _ -")
    return value


def call_uniqueid(body: Mapping[str, Any], key: str = "call") -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_UNIQUEID_CHARS \
            or not value.replace(".", "").replace("-", "").isalnum():
        raise BadInput(f"{key} must be an Asterisk unique id such as 1732771200.42")
    return value


@dataclass(frozen=True)
class DispositionRequest:
    disposition: str
    incident_id: int | None


def disposition(body: Mapping[str, Any]) -> DispositionRequest:
    value = body.get("disposition")
    if value not in DISPOSITIONS:
        raise BadInput(f"disposition must be one of {', '.join(DISPOSITIONS)}")
    incident = body.get("incident_id")
    if value in WITH_INCIDENT:
        return DispositionRequest(str(value), whole(body, "incident_id", low=1, high=2**62))
    if incident not in (None, ""):
        raise BadInput(f"a {value} call names no incident")
    return DispositionRequest(str(value), None)
