"""EIDO (NENA-STA-021) export and import, pure: a realistic incident's document validates
against the shipped schema and reads back into the incident form; what another center may
send that is malformed, oversized or schema-invalid is refused with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ntpd_ivr.eido import model
from ntpd_ivr.eido.model import (
    CallFacts,
    Center,
    DispatchFacts,
    EidoRefused,
    FixFacts,
    IncidentFacts,
)
from ntpd_ivr.location.pidf import parse_pidf

T0 = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
CENTER = Center("112.musibanyuasinkab.example", "muba", "Kabupaten Musi Banyuasin")
CATEGORIES = ("ambulance", "fire", "police", "sar", "disaster", "unclassified")
OPERATOR_PIDF = (
    '<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
    'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
    'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="pres:caller@op.example">'
    '<dm:device id="d"><gp:geopriv><gp:location-info>'
    '<gs:Circle xmlns:gs="http://www.opengis.net/pidflo/1.0" '
    'xmlns:gml="http://www.opengis.net/gml" srsName="urn:ogc:def:crs:EPSG::4326">'
    '<gml:pos>-2.8790 103.8480</gml:pos><gs:radius uom="urn:ogc:def:uom:EPSG::9001">800'
    "</gs:radius></gs:Circle></gp:location-info></gp:geopriv></dm:device></presence>")


def incident(**changes: Any) -> IncidentFacts:
    """A fire in Sekayu: two callers (the first with the operator's PIDF-LO, the second
    with a phone fix), an ambulance and the fire brigade dispatched, one closed."""
    base = IncidentFacts(
        id=42, region="muba", category="fire", kecamatan="Sekayu", desa="Kayuara",
        address="Jl. Merdeka No. 5 <dekat pasar> & masjid", lat=-2.8801, lon=103.8512,
        description="Rumah terbakar, dua orang terjebak di lantai dua", people_involved=2,
        severity="critical", status="open", created_at=T0, created_by="taker-1",
        closed_at=None,
        calls=(CallFacts("1795800000.1", "+6281170001234", "takers-muba",
                         T0 - timedelta(seconds=50), T0 - timedelta(seconds=41), "taker-1",
                         T0 + timedelta(minutes=3), pidf=OPERATOR_PIDF, lat=-2.879,
                         lon=103.848, radius_m=800.0),
               CallFacts("1795800000.2", "+6281370005678", "takers-muba",
                         T0 + timedelta(seconds=30), T0 + timedelta(seconds=36), "taker-2",
                         None)),
        fix=FixFacts(-2.88012, 103.85118, 12.0, T0 + timedelta(seconds=40), "aml-sms",
                     "1795800000.2"),
        dispatches=(DispatchFacts(7, "muba-damkar", "Damkar Musi Banyuasin", ("fire",),
                                  "on-scene", T0 + timedelta(minutes=1), "taker-1",
                                  T0 + timedelta(minutes=12)),
                    DispatchFacts(8, "muba-dinkes", "Dinkes Musi Banyuasin (ambulans)",
                                  ("ambulance",), "accepted", T0 + timedelta(minutes=2),
                                  "taker-1", T0 + timedelta(minutes=3))),
        notes=((T0 + timedelta(minutes=4), "taker-1", "Api sudah menjalar ke rumah sebelah"),))
    return IncidentFacts(**{**base.__dict__, **changes})


def test_a_realistic_incident_validates_against_the_shipped_schema() -> None:
    document = model.export(incident(), CENTER)
    assert model.problems(document) == []
    assert document["eidoVersion"] == "1.0"
    assert document["$id"] == "urn:emergency:uid:incidentid:42:112.musibanyuasinkab.example"
    assert document["issuingElementIdentification"] == CENTER.domain
    assert document["lastUpdateTimeStamp"] == "2026-12-07T05:12:00.000Z"  # the on-scene
    assert [c["callStateRegistryText"] for c in document["callComponent"]] == [
        "callEnded", "callAnswered"]
    assert {a["$id"] for a in document["agencyComponent"]} == {
        "muba.112.musibanyuasinkab.example", "muba-damkar.112.musibanyuasinkab.example",
        "muba-dinkes.112.musibanyuasinkab.example"}
    assert len(document["dispatchComponent"]) == 2
    # Every reference points at a component of the document.
    ids = {c["$id"] for key, value in document.items() if key.endswith("Component")
           for c in (value if isinstance(value, list) else [value])}
    refs = set(_refs(document)) - {"$ref"}
    assert refs <= ids, refs - ids


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def test_each_call_carries_the_callers_location_operator_pidf_else_the_phone_fix() -> None:
    document = model.export(incident(), CENTER)
    locations = {c["$id"]: c for c in document["locationComponent"]}
    first, second = document["callComponent"]
    assert locations[first["locationReference"][0]["$ref"]]["locationByValue"] == OPERATOR_PIDF
    fix = parse_pidf(locations[second["locationReference"][0]["$ref"]]["locationByValue"])
    assert (fix.kind, fix.lat, fix.lon, fix.radius_m) == ("circle", -2.88012, 103.85118, 12.0)
    place = locations[document["incidentComponent"]["locationReference"][0]["$ref"]]
    parsed = parse_pidf(place["locationByValue"])  # escaped: < > & in the address
    assert parsed.civic["LOC"] == "Jl. Merdeka No. 5 <dekat pasar> & masjid"
    assert (parsed.lat, parsed.lon, parsed.civic["A3"]) == (-2.8801, 103.8512, "Sekayu")
    callbacks = {c["$id"]: c for c in document["callbackComponent"]}
    assert callbacks[first["callBackReference"]["$ref"]]["callBackInformationUri"] == [
        "tel:+6281170001234"]


def test_an_incident_without_calls_coordinates_or_dispatches_still_validates() -> None:
    bare = incident(lat=None, lon=None, desa="", address="", calls=(), fix=None,
                    dispatches=(), notes=(), people_involved=0, status="closed",
                    closed_at=T0 + timedelta(hours=1))
    document = model.export(bare, CENTER)
    assert model.problems(document) == []
    assert "callComponent" not in document and "dispatchComponent" not in document
    assert document["incidentComponent"]["incidentStatusCommonRegistryText"] == ["Closed"]
    assert parse_pidf(document["locationComponent"][0]["locationByValue"]).kind == "civic"


def test_our_document_reads_back_into_the_incident_form() -> None:
    data = json.dumps(model.export(incident(), CENTER)).encode()
    got = model.read(data, CATEGORIES)
    assert got.category == "fire"
    assert got.description.startswith("Rumah terbakar, dua orang terjebak di lantai dua\n")
    assert "Api sudah menjalar" in got.description
    assert (got.kecamatan, got.desa, got.address) == (
        "Sekayu", "Kayuara", "Jl. Merdeka No. 5 <dekat pasar> & masjid")
    assert (got.lat, got.lon) == (-2.8801, 103.8512)
    assert got.remote_call_id == "urn:emergency:uid:callid:1795800000.1:" + CENTER.domain
    assert got.caller_number == "+6281170001234"
    assert got.severity == "critical"
    assert got.form()["remote_incident_id"].startswith("urn:emergency:uid:incidentid:42:")


def test_a_foreign_category_name_maps_through_the_responder_registry() -> None:
    document = model.export(incident(category="ambulance"), CENTER)
    document["incidentComponent"]["incidentTypeInternalCode"] = "MED-17"  # their own code
    got = model.read(json.dumps(document).encode(), CATEGORIES)
    assert got.category == "ambulance"  # "ems" in the registry
    document["incidentComponent"]["incidentTypeCommonRegistryText"] = "hazmat"
    assert model.read(json.dumps(document).encode(), CATEGORIES).category == "unclassified"


def test_a_minimal_call_only_eido_from_another_system_is_taken() -> None:
    """What a center without incident data sends: a call, its caller's place, no incident."""
    document = {
        "$id": "urn:emergency:uid:incidentid:abc:psap.example",
        "lastUpdateTimeStamp": "2026-12-07T05:00:00Z",
        "updatedByAgencyReference": {"$ref": "psap.example"},
        "eidoVersion": "1.0", "issuingElementIdentification": "psap.example",
        "agencyComponent": [{"$id": "psap.example", "lastUpdateTimeStamp": "2026-12-07T05:00:00Z",
                             "updatedByAgencyReference": {"$ref": "psap.example"},
                             "agencyRoleDescriptionRegistryText": ["CallReceiving"],
                             "agencyType": ["psap"]}],
        "callComponent": [{"$id": "urn:emergency:uid:callid:c1:psap.example",
                           "lastUpdateTimeStamp": "2026-12-07T05:00:00Z",
                           "updatedByAgencyReference": {"$ref": "psap.example"},
                           "standardPrimaryCallType": "emergency", "direction": "incoming",
                           "callStartTimestamp": "2026-12-07T04:59:00Z",
                           "callStateRegistryText": "callAnswered",
                           "locationReference": [{"$ref": "loc-1"}]}],
        "locationComponent": [{"$id": "loc-1", "lastUpdateTimeStamp": "2026-12-07T05:00:00Z",
                               "updatedByAgencyReference": {"$ref": "psap.example"},
                               "locationTypeDescriptionRegistryText": "Caller",
                               "locationByValue": OPERATOR_PIDF}]}
    got = model.read(json.dumps(document).encode(), CATEGORIES)
    assert (got.category, got.lat, got.lon, got.radius_m) == (
        "unclassified", -2.879, 103.848, 800.0)
    assert got.remote_call_id == "urn:emergency:uid:callid:c1:psap.example"


def _valid() -> dict[str, Any]:
    return model.export(incident(), CENTER)


def _without(key: str) -> bytes:
    document = _valid()
    del document[key]
    return json.dumps(document).encode()


def _changed(path: tuple[Any, ...], value: Any) -> bytes:
    document = _valid()
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"{\"eidoVersion\": ", "not JSON"),
    (b"[1, 2]", "not list"),
    (b"{\"lat\": NaN}", "NaN is not a number"),
    (b"[" * 5000 + b"]" * 5000, "nested deeper"),
    (json.dumps({"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
                ).encode(), "nested deeper"),
    (b"{}", "'eidoVersion' is a required property"),
    (_without("agencyComponent"), "'agencyComponent' is a required property"),
    (_changed(("eidoVersion",), "2.0"), "/eidoVersion"),
    (_changed(("agencyComponent",), []), "/agencyComponent"),
    (_changed(("callComponent", 0, "direction"), "sideways"), "/callComponent/0/direction"),
    (_changed(("callComponent", 0, "callStartTimestamp"), "yesterday"),
     "/callComponent/0/callStartTimestamp"),
    (_changed(("notesComponent", 0, "notesActionComments"), "x" * 9000),
     "/notesComponent/0/notesActionComments"),
    (_changed(("incidentComponent",), "fire"), "/incidentComponent"),
])
def test_malformed_or_schema_invalid_eido_is_refused_with_a_reason(data: bytes,
                                                                   reason: str) -> None:
    with pytest.raises(EidoRefused) as refused:
        model.read(data, CATEGORIES)
    assert reason in str(refused.value)


def test_an_oversized_eido_is_refused_before_it_is_parsed() -> None:
    padding = "x" * (model.MAX_EIDO_BYTES + 1)
    with pytest.raises(EidoRefused, match=r"too large: \d+ bytes \(at most 262144\)"):
        model.read(json.dumps({"pad": padding}).encode(), CATEGORIES)


def test_a_hostile_pidf_inside_an_eido_gives_no_location_and_no_error() -> None:
    document = _valid()
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
            '<presence xmlns="urn:ietf:params:xml:ns:pidf">&lol;</presence>')
    for location in document["locationComponent"]:
        location["locationByValue"] = bomb
    got = model.read(json.dumps(document).encode(), CATEGORIES)
    assert (got.lat, got.lon, got.kecamatan) == (None, None, "")
    assert got.category == "fire"
