"""The caller's own phone's location fix: the AML SMS and the Android ELS HTTPS POST, read
into one typed `LocationFix`. Pure functions, no I/O; anything malformed gives a
`FixRefusal` with its reason, never an exception.

Sources (read with the project's `search` tool, docs and pages corpora):
- Android Emergency Location Service, "SMS Specification",
  developers.google.com/android/els/reference/sms-spec: ELS V1 follows the ETSI AML text
  `A"ML=1;lt=…;lg=…;rd=…;top=…;lc=…;pm=…;si=…;ei=…;mcc=…;mnc=…;ml=…`: lt/lg in signed
  degrees, rd the accuracy in metres, top the fix time yyyyMMddHHmmss UTC, lc the
  confidence in percent, pm the positioning method W(i-Fi)/G(NSS)/C(ell)/N(one), si the
  IMSI with all but its first 6 digits zeroed, ei the IMEI, mcc/mnc the network, ml the
  message length. Its "no location" example sends lt=+00.00000, lg=+000.00000, rd=N,
  lc=0, pm=N. Its two examples are both 127 characters long yet say ml=127 and ml=126, so
  ml is kept but not enforced.
- Android ELS, "HTTPS Specification", developers.google.com/android/els/reference/http-spec:
  a POST of name-value pairs; every field optional, an endpoint must handle missing or
  malformed ones without errors. Fields read here from that page: v, emergency_number,
  time (call start, ms since the epoch), location_latitude, location_longitude,
  location_time (ms), location_accuracy (m), location_source (gps, wifi, cell, unknown).
  The stored copy of that page could be read only up to location_vertical_accuracy, so
  the other fields read here (location_confidence, device_number, device_imei,
  device_imsi, cell_network_mcc/cell_network_mnc, cell_home_* as a fallback)
  are NOT confirmed from the source: check them against the full page before the ELS
  listener goes live. Without them a body still gives a fix, with no caller or IMEI.
  The page also asks endpoints to answer 2XX even to a message they throw away.
- ETSI TS 103 625 (Transporting Handset Location to PSAPs, AML): the same keys for SMS and
  HTTPS transport (pages corpus: the specification's front matter and summary).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl

from ntpd_ivr.location.model import MAX_RADIUS_M
from ntpd_ivr.numbers import CallerKind, parse_caller

FixSource = Literal["aml-sms", "els-https"]
FixMethod = Literal["gnss", "wifi", "cell", "fused", "unknown"]
AML_PREFIX = 'A"ML='
MAX_AML_CHARS = 1000   # a concatenated SMS of a few parts; anything longer is not AML
MAX_BODY_BYTES = 16_384
MAX_RAW_CHARS = 512    # what a refusal keeps of what it refused
_AML_METHODS: dict[str, FixMethod] = {"G": "gnss", "W": "wifi", "C": "cell", "F": "fused"}
_ELS_METHODS: dict[str, FixMethod] = {"gps": "gnss", "gnss": "gnss", "wifi": "wifi",
                                      "cell": "cell", "fused": "fused", "unknown": "unknown"}
# ASCII digits only (\d would take any script's digits), matched whole (fullmatch: "$"
# would let a trailing newline through).
_DEGREES = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]{1,12})?")
_METRES = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,6})?")
_DIGITS = re.compile(r"[0-9]+")
_AML_KEYS = frozenset({"A\"ML", "lt", "lg", "rd", "top", "lc", "pm", "si", "ei", "mcc",
                       "mnc", "ml"})


@dataclass(frozen=True, slots=True)
class LocationFix:
    """One position the caller's phone computed, with what identifies the phone."""

    source: FixSource
    lat: float
    lon: float
    radius_m: float | None      # None: the phone did not say (a fix without accuracy)
    time: datetime | None       # when the phone computed it (UTC)
    method: FixMethod
    confidence: int | None      # percent
    caller: str | None          # canonical (+62…) when the sender is a number
    imei: str | None
    imsi: str | None            # as sent: the first 6 digits, the rest zeros
    mcc: str | None
    mnc: str | None
    emergency_number: str | None = None  # ELS HTTPS only


@dataclass(frozen=True, slots=True)
class FixRefusal:
    """Why a message is not a usable fix; `raw` is what was refused, clipped."""

    source: FixSource
    reason: str
    raw: str

    @classmethod
    def of(cls, source: FixSource, reason: str, raw: str) -> FixRefusal:
        clipped = raw if len(raw) <= MAX_RAW_CHARS else raw[:MAX_RAW_CHARS - 1] + "…"
        return cls(source, reason, clipped)


def is_aml(text: str) -> bool:
    """True when an SMS text claims to be AML (and must then parse or be refused)."""
    return text.lstrip().startswith(AML_PREFIX)


class _Bad(ValueError):
    """A field that is not what the spec says: its message is the refusal's reason."""


def _degrees(name: str, value: str, limit: float) -> float:
    if not _DEGREES.fullmatch(value):
        raise _Bad(f"{name}: not degrees: {value[:40]!r}")
    number = float(value)
    if not -limit <= number <= limit:
        raise _Bad(f"{name}: {number} is outside ±{limit:g}")
    return number


def _radius(name: str, value: str) -> float | None:
    if value in ("", "N"):
        return None
    if not _METRES.fullmatch(value):
        raise _Bad(f"{name}: not metres: {value[:40]!r}")
    number = float(value)
    if not (math.isfinite(number) and number <= MAX_RADIUS_M):
        raise _Bad(f"{name}: {number:g} m is vaguer than {MAX_RADIUS_M:g} m")
    return number


def _confidence(name: str, value: str) -> int | None:
    if value in ("", "N"):
        return None
    if not _DIGITS.fullmatch(value) or not 0 <= int(value) <= 100:
        raise _Bad(f"{name}: not a percentage: {value[:40]!r}")
    return int(value) or None  # 0: the "no location" form


def _digits(name: str, value: str | None, lengths: range) -> str | None:
    if value is None or value == "":
        return None
    if not _DIGITS.fullmatch(value) or len(value) not in lengths:
        raise _Bad(f"{name}: expected {lengths.start}-{lengths.stop - 1} digits, "
                   f"got {value[:40]!r}")
    return value


def _caller(raw: str | None) -> str | None:
    caller = parse_caller(raw)
    return caller.value if caller.kind is CallerKind.NUMBER else None


def _null_island(lat: float, lon: float) -> bool:
    return lat == 0.0 and lon == 0.0


def parse_aml_sms(text: str, sender: str | None) -> LocationFix | FixRefusal:
    """An AML/ELS V1 SMS from `sender` (the SMSC's originating address)."""
    try:
        return _parse_aml(text, sender)
    except _Bad as bad:
        return FixRefusal.of("aml-sms", str(bad), text)
    except (ValueError, OverflowError) as exc:  # pragma: no cover - belt and braces
        return FixRefusal.of("aml-sms", f"unreadable: {exc}", text)


def _parse_aml(text: str, sender: str | None) -> LocationFix:
    body = text.strip()
    if len(body) > MAX_AML_CHARS:
        raise _Bad(f"longer than {MAX_AML_CHARS} characters")
    if not body.startswith(AML_PREFIX):
        raise _Bad('not an AML message (no A"ML= at the start)')
    fields: dict[str, str] = {}
    for part in body.rstrip(";").split(";"):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise _Bad(f"field without '=': {part[:40]!r}")
        if key in fields:
            raise _Bad(f"field {key} given twice")
        if key in _AML_KEYS:
            fields[key] = value
        # Unknown keys: later AML versions add fields (ETSI TS 103 625); ignored.
    version = fields.get('A"ML', "")
    if version != "1":
        raise _Bad(f"AML version {version[:10]!r} is not 1")
    for key in ("lt", "lg", "pm"):
        if key not in fields:
            raise _Bad(f"no {key}")
    if fields["pm"] == "N":
        raise _Bad("the phone had no location (pm=N)")
    if fields["pm"] not in _AML_METHODS:
        raise _Bad(f"pm: unknown positioning method {fields['pm'][:10]!r}")
    lat = _degrees("lt", fields["lt"], 90.0)
    lon = _degrees("lg", fields["lg"], 180.0)
    if _null_island(lat, lon):
        raise _Bad("the phone had no location (0,0)")
    return LocationFix(
        source="aml-sms", lat=lat, lon=lon, radius_m=_radius("rd", fields.get("rd", "")),
        time=_aml_time(fields.get("top", "")), method=_AML_METHODS[fields["pm"]],
        confidence=_confidence("lc", fields.get("lc", "")), caller=_caller(sender),
        imei=_digits("ei", fields.get("ei"), range(14, 17)),
        imsi=_digits("si", fields.get("si"), range(6, 16)),
        mcc=_digits("mcc", fields.get("mcc"), range(3, 4)),
        mnc=_digits("mnc", fields.get("mnc"), range(2, 4)))


def _aml_time(value: str) -> datetime | None:
    if value == "":
        return None
    if not _DIGITS.fullmatch(value) or len(value) != 14:
        raise _Bad(f"top: not yyyyMMddHHmmss: {value[:40]!r}")
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise _Bad(f"top: not a date: {value!r}") from None


def parse_els_body(body: bytes, content_type: str) -> LocationFix | FixRefusal:
    """An ELS HTTPS POST body: name-value pairs (form encoding), or the same as a JSON
    object, which some relays forward."""
    raw = body[:MAX_RAW_CHARS].decode("utf-8", "replace")
    if len(body) > MAX_BODY_BYTES:
        return FixRefusal.of("els-https", f"body larger than {MAX_BODY_BYTES} bytes", raw)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return FixRefusal.of("els-https", "body is not UTF-8", raw)
    fields: dict[str, str] = {}
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return FixRefusal.of("els-https", "body is not JSON", raw)
        if not isinstance(value, dict):
            return FixRefusal.of("els-https", "JSON body is not an object", raw)
        for key, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                continue  # nested objects (additional emergency information): not ours
            fields[str(key)] = str(item)
    else:
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                              max_num_fields=200)
        except ValueError:
            return FixRefusal.of("els-https", "too many fields", raw)
        for key, item in pairs:
            fields.setdefault(key, item)
    return parse_els_fields(fields, raw)


def parse_els_fields(fields: Mapping[str, str], raw: str = "") -> LocationFix | FixRefusal:
    try:
        return _parse_els(fields)
    except _Bad as bad:
        return FixRefusal.of("els-https", str(bad), raw)
    except (ValueError, OverflowError) as exc:  # pragma: no cover - belt and braces
        return FixRefusal.of("els-https", f"unreadable: {exc}", raw)


def _field(fields: Mapping[str, str], name: str) -> str:
    return fields.get(name, "").strip()


def _parse_els(fields: Mapping[str, str]) -> LocationFix:
    version = _field(fields, "v")
    if version not in ("", "1", "2", "3"):
        raise _Bad(f"v: unknown version {version[:10]!r}")
    lat_text, lon_text = _field(fields, "location_latitude"), _field(fields, "location_longitude")
    if not lat_text or not lon_text:
        raise _Bad("no location_latitude/location_longitude")
    lat = _degrees("location_latitude", lat_text, 90.0)
    lon = _degrees("location_longitude", lon_text, 180.0)
    if _null_island(lat, lon):
        raise _Bad("the phone had no location (0,0)")
    source = _field(fields, "location_source").lower()
    if source and source not in _ELS_METHODS:
        raise _Bad(f"location_source: unknown {source[:20]!r}")
    emergency = _field(fields, "emergency_number") or None
    if emergency is not None and not _DIGITS.fullmatch(emergency):
        raise _Bad(f"emergency_number: not digits: {emergency[:20]!r}")
    return LocationFix(
        source="els-https", lat=lat, lon=lon,
        radius_m=_radius("location_accuracy", _field(fields, "location_accuracy")),
        time=_els_time("location_time", _field(fields, "location_time"))
        or _els_time("time", _field(fields, "time")),
        method=_ELS_METHODS.get(source, "unknown"),
        confidence=_confidence("location_confidence", _field(fields, "location_confidence")),
        caller=_caller(_field(fields, "device_number") or None),
        imei=_digits("device_imei", _field(fields, "device_imei"), range(14, 17)),
        imsi=_digits("device_imsi", _field(fields, "device_imsi"), range(6, 16)),
        mcc=_digits("cell_network_mcc", _field(fields, "cell_network_mcc")
                    or _field(fields, "cell_home_mcc"), range(3, 4)),
        mnc=_digits("cell_network_mnc", _field(fields, "cell_network_mnc")
                    or _field(fields, "cell_home_mnc"), range(2, 4)),
        emergency_number=emergency)


def _els_time(name: str, value: str) -> datetime | None:
    if value == "":
        return None
    if not _DIGITS.fullmatch(value) or len(value) > 15:
        raise _Bad(f"{name}: not milliseconds since the epoch: {value[:40]!r}")
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Bad(f"{name}: {value} ms is not a time we can read") from None
