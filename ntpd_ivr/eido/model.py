"""EIDO (NENA-STA-021, JSON, eidoVersion 1.0): an incident as the document 112 centers and
dispatch systems exchange, and back. Pure: values in, a document (a dict) out; bytes in,
the desk's incident form out or a refusal with its reason (docs/eido.md).

Export: the incident, its calls (each with the caller's location: the PIDF-LO the operator
sent, else the best fix from the caller's phone), its category, description, the agencies
dispatched, and its notes. Import: a document another center or system sent, bounded in
size and depth, validated against the shipped schema (schema/eido-1.0.schema.json), then
reduced to what a call-taker's incident form needs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from jsonschema import Draft202012Validator, FormatChecker

from ntpd_ivr.location.model import Location
from ntpd_ivr.location.pidf import parse_pidf

EIDO_VERSION = "1.0"
MEDIA_TYPE = "application/emergency.eido+json"  # STA-021's registered media type
CONTEXT = {"@vocab": "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"}
MAX_EIDO_BYTES = 256 * 1024     # an incoming document larger than this is refused unread
MAX_DEPTH = 32                  # nesting deeper than this is refused (no EIDO needs it)
MAX_DESCRIPTION_CHARS = 2000    # what the incident form takes (incidents/schemas.py)
MAX_TEXT_CHARS = 200
UNCLASSIFIED = "unclassified"

# Our categories -> the IANA urn:emergency:service:responder registry's names (without the
# prefix), for agencyType and incidentTypeCommonRegistryText. Read back the same way.
RESPONDER_TYPES: Mapping[str, str] = {
    "ambulance": "ems", "fire": "fire", "police": "police", "sar": "search_and_rescue",
    "disaster": "disaster_management",
}
CALL_STATES = ("callAnswered", "callEnded", "callAbandoned", "callRinging")


class EidoRefused(ValueError):
    """An incoming EIDO that cannot be used; the message is the reason, for the sender."""


@dataclass(frozen=True)
class Center:
    """Who issues the document: this 112 center's element and the region's agency."""

    domain: str         # e.g. "112.musibanyuasinkab.go.id": ids end with it
    region: str         # the incident's region key
    region_name: str

    @property
    def agency_id(self) -> str:
        return f"{self.region}.{self.domain}"


@dataclass(frozen=True)
class CallFacts:
    uniqueid: str
    caller_number: str | None
    queue: str | None
    arrived_at: datetime | None
    answered_at: datetime | None
    answered_by: str | None
    ended_at: datetime | None
    abandoned_at: datetime | None = None
    pidf: str | None = None          # the operator's PIDF-LO (calls.location_raw)
    lat: float | None = None         # the calls row's parsed location
    lon: float | None = None
    radius_m: float | None = None


@dataclass(frozen=True)
class FixFacts:
    """The best fix from the caller's own phone (AML, ELS, a location link)."""

    lat: float
    lon: float
    radius_m: float | None
    at: datetime | None
    source: str
    call: str | None = None


@dataclass(frozen=True)
class DispatchFacts:
    id: int
    agency: str                     # "<region>-<agency>"
    agency_name: str
    categories: tuple[str, ...]
    status: str
    created_at: datetime
    created_by: str
    updated_at: datetime


@dataclass(frozen=True)
class IncidentFacts:
    id: int
    region: str
    category: str
    kecamatan: str
    desa: str
    address: str
    lat: float | None
    lon: float | None
    description: str
    people_involved: int
    severity: str
    status: str
    created_at: datetime
    created_by: str
    closed_at: datetime | None
    calls: tuple[CallFacts, ...] = ()
    fix: FixFacts | None = None
    dispatches: tuple[DispatchFacts, ...] = ()
    notes: tuple[tuple[datetime, str, str], ...] = ()  # (at, author, text)


def _time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ref(target: str) -> dict[str, str]:
    return {"$ref": target}


def point_pidf(entity: str, lat: float, lon: float, radius_m: float | None,
               civic: Mapping[str, str] | None = None, method: str = "") -> str:
    """A PIDF-LO (RFC 4119, RFC 5491 Point or Circle, RFC 5139 civic) for one place."""
    gml = ('xmlns:gml="http://www.opengis.net/gml" srsName="urn:ogc:def:crs:EPSG::4326"')
    pos = f"<gml:pos>{lat:.6f} {lon:.6f}</gml:pos>"
    if radius_m:
        shape = (f'<gs:Circle xmlns:gs="http://www.opengis.net/pidflo/1.0" {gml}>{pos}'
                 f'<gs:radius uom="urn:ogc:def:uom:EPSG::9001">{radius_m:.1f}</gs:radius>'
                 "</gs:Circle>")
    else:
        shape = f"<gml:Point {gml}>{pos}</gml:Point>"
    civic_xml = ""
    if civic:
        civic_xml = ('<ca:civicAddress xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:'
                     'civicAddr">' + "".join(f"<ca:{k}>{escape(v)}</ca:{k}>"
                                               for k, v in civic.items() if v)
                     + "</ca:civicAddress>")
    method_xml = f"<gp:method>{escape(method)}</gp:method>" if method else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
            f'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity={quoteattr(entity)}>'
            '<dm:device id="location"><gp:geopriv><gp:location-info>'
            f"{shape}{civic_xml}</gp:location-info>{method_xml}</gp:geopriv></dm:device>"
            "</presence>")


def civic_pidf(entity: str, civic: Mapping[str, str]) -> str:
    """A PIDF-LO with a civic address only (the call-taker typed no coordinates)."""
    body = "".join(f"<ca:{k}>{escape(v)}</ca:{k}>" for k, v in civic.items() if v)
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
            f'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity={quoteattr(entity)}>'
            '<dm:device id="location"><gp:geopriv><gp:location-info>'
            '<ca:civicAddress xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">'
            f"{body}</ca:civicAddress></gp:location-info></gp:geopriv></dm:device></presence>")


def incident_urn(incident_id: int | str, domain: str) -> str:
    return f"urn:emergency:uid:incidentid:{incident_id}:{domain}"


def call_urn(uniqueid: str, domain: str) -> str:
    return f"urn:emergency:uid:callid:{uniqueid}:{domain}"


def _last_update(facts: IncidentFacts) -> datetime:
    times = [facts.created_at, *(t for t in (facts.closed_at,) if t)]
    times += [d.updated_at for d in facts.dispatches]
    times += [t for c in facts.calls for t in (c.answered_at, c.ended_at) if t]
    times += [at for at, _, _ in facts.notes]
    return max(_aware(t) for t in times)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def export(facts: IncidentFacts, center: Center) -> dict[str, Any]:
    """The EIDO document of one incident (validates against the shipped schema)."""
    domain, agency = center.domain, center.agency_id
    incident_id = incident_urn(facts.id, domain)
    updated = _time(_last_update(facts))
    by_us = {"updatedByAgencyReference": _ref(agency)}

    def prologue(component_id: str, at: datetime | str, agent: str | None = None
                 ) -> dict[str, Any]:
        out: dict[str, Any] = {"$id": component_id,
                               "lastUpdateTimeStamp": at if isinstance(at, str) else _time(at),
                               **by_us}
        if agent:
            out["updatedByAgentReference"] = _ref(agent_id(agent))
        return out

    def agent_id(user: str) -> str:
        return f"{user}@{domain}"

    agents: dict[str, dict[str, Any]] = {}

    def agent(user: str | None, role: str, at: datetime) -> str | None:
        if not user:
            return None
        ident = agent_id(user)
        agents.setdefault(ident, {**prologue(ident, at), "agentRoleRegistryText": [role],
                                  "agencyReference": _ref(agency)})
        return ident

    locations: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    creator = agent(facts.created_by, "Call Taking", facts.created_at)

    # The incident's place, as the call-taker wrote it.
    civic = {k: v for k, v in (("country", "ID"), ("A2", center.region_name),
                               ("A3", facts.kecamatan), ("A4", facts.desa),
                               ("LOC", facts.address)) if v}
    place_id = f"{incident_id}:location"
    entity = f"pres:incident-{facts.id}@{domain}"
    place = {**prologue(place_id, facts.created_at, facts.created_by),
             "locationTypeDescriptionRegistryText": "Incident",
             "locationByValue": (point_pidf(entity, facts.lat, facts.lon, None, civic)
                                 if facts.lat is not None and facts.lon is not None
                                 else civic_pidf(entity, civic)),
             "locationDescriptionText": ", ".join(
                 v for v in (facts.address, facts.desa, facts.kecamatan, center.region_name)
                 if v)}
    locations.append(place)

    description_id = f"{incident_id}:description"
    notes.append({**prologue(description_id, facts.created_at, facts.created_by),
                  "notesActionComments": facts.description,
                  **({"agentReference": _ref(creator)} if creator else {})})
    note_refs = [_ref(description_id)]
    if facts.people_involved:
        people_id = f"{incident_id}:people"
        notes.append({**prologue(people_id, facts.created_at, facts.created_by),
                      "notesActionComments": f"people involved: {facts.people_involved}"})
        note_refs.append(_ref(people_id))
    for n, (at, author, text) in enumerate(facts.notes, 1):
        note_id = f"{incident_id}:note:{n}"
        notes.append({**prologue(note_id, at, author), "notesActionComments": text})
        note_refs.append(_ref(note_id))

    calls: list[dict[str, Any]] = []
    callbacks: list[dict[str, Any]] = []
    for call in facts.calls:
        call_id = call_urn(call.uniqueid, domain)
        start = call.arrived_at or call.answered_at or facts.created_at
        taker = agent(call.answered_by, "Call Taking", call.answered_at or start)
        row: dict[str, Any] = {
            **prologue(call_id, call.ended_at or call.answered_at or start),
            "standardPrimaryCallType": "emergency", "direction": "incoming",
            "callStartTimestamp": _time(start),
            "callStateRegistryText": ("callEnded" if call.ended_at else
                                      "callAnswered" if call.answered_at else "callRinging"),
            "agencyReference": [_ref(agency)]}
        if call.abandoned_at and not call.answered_at:
            row["callStateRegistryText"] = "callAbandoned"
        if call.queue:
            row["queueIdentifier"] = call.queue
        if call.answered_at:
            row["answerDate"] = _time(call.answered_at)
        if taker:
            row["agentReference"] = [_ref(taker)]
        if call.caller_number:
            callback_id = f"{call_id}:callback"
            callbacks.append({**prologue(callback_id, start),
                              "callBackInformationUri": [f"tel:{call.caller_number}"]})
            row["callBackReference"] = _ref(callback_id)
        caller_location = _caller_location(call, facts.fix, call_id, start, domain)
        if caller_location is not None:
            locations.append({**prologue(caller_location[0], caller_location[1]),
                              **caller_location[2]})
            row["locationReference"] = [_ref(caller_location[0])]
        calls.append(row)

    agencies: list[dict[str, Any]] = [{
        **prologue(agency, updated), "agencyRoleDescriptionRegistryText": ["CallReceiving"],
        "agencyType": ["psap"], "incidentOwningAgencyIndicator": True}]
    dispatches: list[dict[str, Any]] = []
    for dispatch in facts.dispatches:
        their_id = f"{dispatch.agency}.{domain}"
        if all(a["$id"] != their_id for a in agencies):
            agencies.append({
                **prologue(their_id, dispatch.updated_at),
                "agencyRoleDescriptionRegistryText": ["Responding"],
                "agencyType": sorted({RESPONDER_TYPES.get(c, c) for c in dispatch.categories})
                or ["other"],
                "agencyJcard": json.dumps(["vcard", [["version", {}, "text", "4.0"],
                                                     ["fn", {}, "text", dispatch.agency_name]]],
                                          ensure_ascii=False)})
        dispatcher = agent(dispatch.created_by, "Dispatching", dispatch.created_at)
        dispatches.append({
            **prologue(f"{incident_id}:dispatch:{dispatch.id}", dispatch.updated_at),
            "agencyReference": _ref(their_id),
            **({"agentReference": _ref(dispatcher)} if dispatcher else {})})

    incident: dict[str, Any] = {
        **prologue(incident_id, updated),
        "incidentTypeCommonRegistryText": RESPONDER_TYPES.get(facts.category, facts.category),
        "incidentTypeInternalCode": facts.category,
        "incidentStatusCommonRegistryText": ["Closed" if facts.status == "closed" else "Open"],
        "incidentStatusInternalText": [facts.status],
        "internalIncidentId": str(facts.id),
        "incidentPriorityInternalText": facts.severity,
        "locationReference": [_ref(place_id)],
        "notesReference": note_refs}
    if creator:
        incident["agentReference"] = [_ref(creator)]

    document: dict[str, Any] = {
        **prologue(incident_id, updated), "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": domain, "incidentComponent": incident,
        "agencyComponent": agencies, "agentComponent": list(agents.values()),
        "locationComponent": locations, "notesComponent": notes, "@context": CONTEXT}
    for key, values in (("callComponent", calls), ("callbackComponent", callbacks),
                        ("dispatchComponent", dispatches)):
        if values:
            document[key] = values
    return document


def _caller_location(call: CallFacts, fix: FixFacts | None, call_id: str, start: datetime,
                     domain: str) -> tuple[str, datetime, dict[str, Any]] | None:
    """The caller's location on this call: the operator's PIDF-LO as received, else the
    phone's best fix matched to this call (or to the incident when only one call)."""
    location_id = f"{call_id}:caller-location"
    if call.pidf:
        return location_id, start, {"locationTypeDescriptionRegistryText": "Caller",
                                    "locationByValue": call.pidf}
    if call.lat is not None and call.lon is not None:
        return location_id, start, {
            "locationTypeDescriptionRegistryText": "Caller",
            "locationByValue": point_pidf(f"pres:caller@{domain}", call.lat, call.lon,
                                          call.radius_m, method="Cell")}
    if fix is not None and fix.call in (None, call.uniqueid):
        return location_id, fix.at or start, {
            "locationTypeDescriptionRegistryText": "Caller",
            "locationByValue": point_pidf(f"pres:caller@{domain}", fix.lat, fix.lon,
                                          fix.radius_m, method=fix.source)}
    return None


# ---- validation ---------------------------------------------------------------------------

@cache
def schema() -> dict[str, Any]:
    text = resources.files("ntpd_ivr.eido").joinpath("schema/eido-1.0.schema.json").read_text(
        encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema(), format_checker=FormatChecker())


def problems(document: Any, limit: int = 5) -> list[str]:
    """Why `document` is not a valid EIDO by the shipped schema: '' paths are the root."""
    found = []
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(e.path)):
        path = "/" + "/".join(str(p) for p in error.absolute_path)
        found.append(f"{path}: {error.message[:200]}")
        if len(found) >= limit:
            break
    return found


# ---- import -------------------------------------------------------------------------------

@dataclass(frozen=True)
class IncomingIncident:
    """What the desk's incident form needs from an EIDO another center sent."""

    source: str                     # issuingElementIdentification
    remote_incident_id: str         # the incident's (or document's) $id
    remote_call_id: str | None      # the first call's $id: the first center's call
    category: str
    description: str
    kecamatan: str = ""
    desa: str = ""
    address: str = ""
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    caller_number: str | None = None
    severity: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def form(self) -> dict[str, Any]:
        """The incident form's fields, as the desk fills them in."""
        return {"category": self.category, "description": self.description,
                "kecamatan": self.kecamatan, "desa": self.desa, "address": self.address,
                "lat": self.lat, "lon": self.lon, "severity": self.severity,
                "remote_incident_id": self.remote_incident_id,
                "remote_call_id": self.remote_call_id, "source": self.source,
                "caller_number": self.caller_number}


def _depth(value: Any, limit: int) -> bool:
    """Whether `value` nests no deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def _no_constant(name: str) -> Any:
    raise EidoRefused(f"not JSON: {name} is not a number JSON allows")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if limit <= MAX_TEXT_CHARS else text.strip()
    return text[:limit]


def decode(data: bytes) -> dict[str, Any]:
    """The JSON object in `data`, bounded and schema-valid; EidoRefused with the reason."""
    if len(data) > MAX_EIDO_BYTES:
        raise EidoRefused(f"too large: {len(data)} bytes (at most {MAX_EIDO_BYTES})")
    if not data.strip():
        raise EidoRefused("empty: an EIDO is a JSON object")
    try:
        text = data.decode("utf-8")
        document = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise EidoRefused("not UTF-8 text") from None
    except RecursionError:
        raise EidoRefused(f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise EidoRefused(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                          ) from None
    if not isinstance(document, dict):
        raise EidoRefused(f"an EIDO is a JSON object, not {type(document).__name__}")
    if not _depth(document, MAX_DEPTH):
        raise EidoRefused(f"nested deeper than {MAX_DEPTH} levels")
    found = problems(document)
    if found:
        raise EidoRefused("not a valid EIDO 1.0 (NENA-STA-021): " + "; ".join(found))
    return document


def _by_id(components: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {c["$id"]: c for c in components}


def _refs(component: Mapping[str, Any] | None, key: str) -> list[str]:
    if not component:
        return []
    value = component.get(key)
    if isinstance(value, dict):
        value = [value]
    return [r["$ref"] for r in value or ()]


def _location(component: Mapping[str, Any] | None) -> Location | None:
    if component is None or not component.get("locationByValue"):
        return None
    location = parse_pidf(component["locationByValue"])
    return location if location.kind in ("point", "circle", "civic") else None


def _category(incident: Mapping[str, Any] | None, categories: Collection[str]) -> str:
    if not incident:
        return UNCLASSIFIED
    internal = incident.get("incidentTypeInternalCode", "")
    if internal in categories:
        return str(internal)
    common = incident.get("incidentTypeCommonRegistryText", "")
    for ours, theirs in RESPONDER_TYPES.items():
        if common == theirs and ours in categories:
            return ours
    return common if common in categories else UNCLASSIFIED


def read(data: bytes, categories: Collection[str]) -> IncomingIncident:
    """An incoming EIDO, reduced to the incident form; EidoRefused with the reason."""
    document = decode(data)
    incident = document.get("incidentComponent")
    locations = _by_id(document.get("locationComponent", ()))
    notes = _by_id(document.get("notesComponent", ()))
    calls = document.get("callComponent", [])
    callbacks = _by_id(document.get("callbackComponent", ()))

    note_ids = _refs(incident, "notesReference") or list(notes)
    texts = [str(notes[n]["notesActionComments"]) for n in note_ids if n in notes]
    description = "\n".join(t for t in texts if t.strip()) or "(no description in the EIDO)"

    place = next((loc for ref in _refs(incident, "locationReference")
                  if (loc := _location(locations.get(ref))) is not None), None)
    first_call = calls[0] if calls else None
    caller = next((loc for ref in _refs(first_call, "locationReference")
                   if (loc := _location(locations.get(ref))) is not None), None)
    if place is None:  # no incident location: the caller's is the best there is
        place = caller or next((loc for c in locations.values()
                                if (loc := _location(c)) is not None), None)
    civic = dict(place.civic) if place else {}
    lat = place.lat if place and place.lat is not None else (caller.lat if caller else None)
    lon = place.lon if place and place.lon is not None else (caller.lon if caller else None)
    if lat is not None and lon is not None and not (math.isfinite(lat) and math.isfinite(lon)):
        lat = lon = None
    number = None
    for ref in _refs(first_call, "callBackReference"):
        for uri in callbacks.get(ref, {}).get("callBackInformationUri", ()):
            if isinstance(uri, str) and uri.startswith("tel:"):
                number = _clip(uri[4:], 32)
                break
    severity = incident.get("incidentPriorityInternalText") if incident else None
    return IncomingIncident(
        source=_clip(str(document["issuingElementIdentification"]), MAX_TEXT_CHARS),
        remote_incident_id=_clip(str((incident or document)["$id"]), 512),
        remote_call_id=_clip(str(first_call["$id"]), 512) if first_call else None,
        category=_category(incident, categories),
        description=_clip(description, MAX_DESCRIPTION_CHARS),
        kecamatan=_clip(civic.get("A3", ""), MAX_TEXT_CHARS),
        desa=_clip(civic.get("A4", "") or civic.get("A5", ""), MAX_TEXT_CHARS),
        address=_clip(civic.get("LOC", "") or " ".join(
            v for v in (civic.get("RD", ""), civic.get("STS", ""), civic.get("HNO", "")) if v),
            MAX_TEXT_CHARS),
        lat=lat, lon=lon, radius_m=(caller.radius_m if caller and place is caller else
                                    place.radius_m if place else None),
        caller_number=number,
        severity=severity if severity in ("low", "medium", "high", "critical") else None,
        notes=tuple(_clip(t, MAX_DESCRIPTION_CHARS) for t in texts[:20]))


def to_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
