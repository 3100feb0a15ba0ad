"""The caller's location from the call, and into the call record.

The dialplan (dialplan/ntpd-emergency.conf) passes two more AGI arguments, each base64 so
that a comma inside cannot split the argument list:

- ``${BASE64_ENCODE(${GEOLOC_PROFILE(effective_location)})}``, only looked up when
  the INVITE had a Geolocation header, else empty;
- ``${BASE64_ENCODE(${PJSIP_HEADER(read,Geolocation)})}``: the RFC 6442 header as received.

So the location costs the controller no AGI round trip, and a header that Asterisk could
not turn into a location (a broken PIDF-LO, a missing body part) is told apart from no
location at all: it is recorded as malformed.
"""

from __future__ import annotations

import binascii
import logging
from base64 import b64decode
from typing import Any

from ntpd_ivr.location.eprofile import parse_effective_location
from ntpd_ivr.location.model import Location

log = logging.getLogger(__name__)

MAX_ARGUMENT_CHARS = 16 * 1024  # base64 of anything larger was not made by our dialplan


def _unbase64(value: str) -> str | None:
    if len(value) > MAX_ARGUMENT_CHARS:
        return None
    try:
        return b64decode(value.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def from_dialplan(location_b64: str, header_b64: str) -> Location:
    """The Location of a call from the two AGI arguments. Never raises."""
    try:
        return _from_dialplan(location_b64, header_b64)
    except Exception as exc:  # a parser bug must not cost the caller anything
        log.exception("caller location unreadable")
        return Location.malformed(f"internal error reading the location: {exc!r}")


def _from_dialplan(location_b64: str, header_b64: str) -> Location:
    header = _unbase64(header_b64) if header_b64 else ""
    if not location_b64:
        if not header_b64:
            return Location.none()
        shown = header if header is not None else header_b64
        return Location.malformed("Geolocation header but no usable location "
                                  "(PIDF-LO missing, unreadable or refused by Asterisk)",
                                  raw=f"Geolocation: {shown}")
    text = _unbase64(location_b64)
    if text is None:
        return Location.malformed("location argument is not base64 (cut short?)",
                                  raw=location_b64[:256])
    location = parse_effective_location(text)
    if location.kind == "none":  # an empty profile behind a header
        return Location.malformed("Geolocation header but an empty location",
                                  raw=f"Geolocation: {header}")
    return location


def record_fields(location: Location) -> dict[str, Any]:
    """Every ``calls`` location column of a location, None included.

    As CallUpdate fields (the IVR's arrival record) None means "unchanged", which is
    right for the first location of a call. A later one that replaces it (a call-taker's)
    must set them all, None as NULL, e.g. ``update(Call).values(**record_fields(loc))``,
    or it would keep columns of the one it replaces."""
    return {
        "location_kind": location.kind,
        "location_source": location.source if location.kind != "none" else None,
        "location_lat": location.lat,
        "location_lon": location.lon,
        "location_radius_m": location.radius_m,
        "location_confidence": location.confidence,
        "location_civic": location.civic_json(),
        "location_shape": location.shape,
        "location_raw": location.raw,
        "location_error": location.error,
    }
