"""The caller's location end to end: a SIPp operator INVITE with a Geolocation header and a
PIDF-LO body -> Asterisk 22 res_geolocation -> dialplan -> FastAGI IVR -> the calls row."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest

from ntpd_ivr.location.pidf import parse_pidf
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.stack.devstack import OPERATOR_IP, DevStack
from ntpd_ivr.stack.sipp import place_call
from tests import pidf_samples as pidf

from .conftest import Controller, Takers, caller, record

pytestmark = pytest.mark.e2e


async def call_with_location(stack: DevStack, number: str, body: str) -> None:
    result = await asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1",
        caller=number, digit_delay_ms=1200, timeout=60, scenario="caller-location.xml",
        keys={"pidf": body})
    assert result.ok, result.output[-3000:]


async def test_a_circle_shows_its_centre_and_radius_on_the_record(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    body = pidf.circle(-2.9761, 104.7754, radius="50")
    await call_with_location(stack, number, body)
    row, _ = await record(stack, number)

    assert row["location_kind"] == "circle", row
    assert row["location_source"] == "network"
    assert (row["location_lat"], row["location_lon"]) == (-2.9761, 104.7754)
    assert row["location_radius_m"] == 50.0
    assert row["location_error"] is None
    # Asterisk 22's own rendering of the gs:Circle (res_geolocation's effective_location).
    assert row["location_raw"] == 'shape="Circle",crs="2d",pos="-2.9761 104.7754",radius="50"'
    # What Asterisk made of the body is what our own PIDF-LO parser makes of it.
    ours = parse_pidf(body)
    assert (ours.lat, ours.lon, ours.radius_m) == (row["location_lat"], row["location_lon"],
                                                   row["location_radius_m"])
    assert row["disposition"] == "answered"  # the location cost the caller nothing


def api_calls(stack: DevStack) -> list[dict[str, Any]]:
    """GET /api/calls as the supervisor: what the screens will read."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    base = f"http://127.0.0.1:{stack.layout.web_port}"
    login = json.dumps({"user": "supervisor",
                        "password": stack.secrets["web_supervisor_password"]}).encode()
    # A state-changing request carries the CSRF token the app hands out (ntpd_ivr/web/csrf.py).
    with opener.open(f"{base}/api/csrf", timeout=5) as reply:
        token = json.loads(reply.read())["csrf_token"]
    opener.open(urllib.request.Request(f"{base}/login", data=login, headers={
        "Content-Type": "application/json", "X-CSRF-Token": token}), timeout=5).close()
    with opener.open(f"{base}/api/calls?limit=50", timeout=5) as reply:
        calls: list[dict[str, Any]] = json.loads(reply.read())["calls"]
    return calls


async def test_a_civic_address_shows_its_fields_on_the_record(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    await call_with_location(stack, number, pidf.civic(**pidf.SEKAYU_CIVIC))
    row, _ = await record(stack, number)

    assert row["location_kind"] == "civic", row
    civic = row["location_civic"]
    civic = json.loads(civic) if isinstance(civic, str) else civic
    assert civic == {**pidf.SEKAYU_CIVIC, "lang": "id"}
    assert row["location_raw"].startswith('lang="id",country="ID",A1="Sumatera Selatan",')
    assert row["location_lat"] is None and row["location_radius_m"] is None
    # The web API gives the civic address as a JSON object.
    [listed] = [c for c in await asyncio.to_thread(api_calls, stack)
                if c["caller_number"] == canonical_caller(number)]
    assert (listed["location_kind"], listed["location_civic"]["A3"]) == ("civic", "Sekayu")


async def test_a_malformed_pidf_is_recorded_and_the_caller_still_reaches_a_call_taker(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    broken = pidf.HEAD + "<dm:device><gp:geopriv><gp:location-info><gml:Point"  # cut short
    await call_with_location(stack, number, broken)
    row, _ = await record(stack, number)

    assert row["location_kind"] == "malformed", row
    assert "Geolocation header" in row["location_error"]
    assert row["location_raw"].startswith("Geolocation: <cid:caller-location@")
    assert row["disposition"] == "answered"
    assert row["answered_by"] is not None
    assert row["category"] == "ambulance"


async def test_a_call_without_location_records_none(
        stack: DevStack, running_controller: Controller, takers: Takers) -> None:
    number = caller()
    result = await asyncio.to_thread(
        place_call, f"127.0.0.1:{stack.layout.sip_port}", OPERATOR_IP, 0, digit="1",
        caller=number, digit_delay_ms=1200, timeout=60)
    assert result.ok, result.output[-3000:]
    row, _ = await record(stack, number)

    assert row["location_kind"] == "none"
    assert row["location_raw"] is None and row["location_error"] is None
