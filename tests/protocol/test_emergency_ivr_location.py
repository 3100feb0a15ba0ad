"""The caller's location through the real FastAGI server: the dialplan's third and fourth
AGI arguments reach the arrival record, and no location, however broken, changes the route
or costs an AGI command."""

from __future__ import annotations

from base64 import b64encode

import pytest

from ntpd_ivr.calls.values import CallUpdate

from .conftest import Dial
from .test_emergency_ivr import ARGS, Call, Menu, place_call, pressed, routed_as

CIRCLE = 'shape="Circle",crs="2d",pos="-2.9761 104.7754",radius="50"'
HEADER = "<cid:caller-location@operator.invalid>"


def b64(text: str) -> str:
    return b64encode(text.encode()).decode()


def arrival(call: Call) -> CallUpdate:
    [arrived] = [r for r in call.records.kept if isinstance(r, CallUpdate) and r.arrived_at]
    return arrived


async def test_a_circle_is_on_the_arrival_record(dial: Dial) -> None:
    call = await place_call(dial, {"id/menu": Menu(pressed("1"))},
                            args=(*ARGS, b64(CIRCLE), b64(HEADER)))
    arrived = arrival(call)
    assert (arrived.location_kind, arrived.location_source, arrived.location_lat,
            arrived.location_lon, arrived.location_radius_m) == (
        "circle", "network", -2.9761, 104.7754, 50.0)
    assert arrived.location_raw == CIRCLE
    routed_as(call, "1", "ambulance", "menu", 10)
    # Only the menu and the one MSet: the location took no AGI round trip.
    assert [c.split()[0] for c in call.asterisk.commands] == ["GET", "EXEC"]


@pytest.mark.parametrize(("args", "kind", "error"), [
    ((b64(CIRCLE)[:-7], b64(HEADER)), "malformed", "not base64"),
    (("", b64(HEADER)), "malformed", "Geolocation header but no usable location"),
    ((b64('shape="Circle",crs="2d",pos="-2.9 104.7",radius="-1"'), b64(HEADER)),
     "malformed", "radius"),
    ((b64("\x00\xff garbage, \"quoted\""), "not base64 either!"), "malformed",
     "not a name"),
    (("", ""), "none", None),
    ((), "none", None),  # a dialplan from before the location arguments
])
async def test_no_location_however_broken_changes_the_route(
        dial: Dial, args: tuple[str, ...], kind: str, error: str | None) -> None:
    call = await place_call(dial, {"id/menu": Menu(pressed("2"))}, args=(*ARGS, *args))
    arrived = arrival(call)
    assert arrived.location_kind == kind
    assert (error or "") in (arrived.location_error or ""), arrived.location_error
    assert arrived.location_lat is None
    routed_as(call, "2", "fire", "menu", 10)
