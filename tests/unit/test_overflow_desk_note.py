"""The screen pop of a call another center's edge overflowed here (docs/ha.md, "A second
site"; docs/workspace.md): the call-taker is told which region it was for and which center
is dark, that center named by OUR config for the neighbour whose trunk the call came on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ntpd_ivr.app import Service
from ntpd_ivr.ivr.events import CallOverflowed
from ntpd_ivr.settings import load_settings
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import LiveHub
from ntpd_ivr.workspace.model import overflow_note
from ntpd_ivr.workspace.service import WorkspaceService
from tests.transfer_fixtures import routing_with_neighbours
from tests.unit.test_workspace import QUEUES, TOPICS, called, watch
from tests.waiting import eventually
from tests.workspace_fakes import FakeQueues, FakeStore


def test_the_note_names_the_region_and_the_dark_center_from_our_config(
        tmp_path: Path) -> None:
    routing = routing_with_neighbours(tmp_path)
    row = {"uniqueid": "9.1", "trunk": "center-banyuasin", "overflow_region": "muba"}
    banyuasin = routing.neighbours["muba"]["banyuasin"]
    assert overflow_note(routing, row) == {
        "region": "muba", "region_name": "Kabupaten Musi Banyuasin",
        "neighbour": "banyuasin", "neighbour_name": banyuasin.name}
    # A region our config does not have: its key, as the neighbour named it.
    assert overflow_note(routing, {**row, "overflow_region": "pali"})["region_name"] == "pali"


def test_no_note_without_a_region_or_a_neighbours_trunk(tmp_path: Path) -> None:
    routing = routing_with_neighbours(tmp_path)
    assert overflow_note(routing, None) is None
    assert overflow_note(routing, {"trunk": "center-banyuasin", "overflow_region": None}) is None
    # The header alone never names a center: a trunk no neighbour's (an operator's, or a
    # neighbour removed by a reload since) gets no note.
    assert overflow_note(routing, {"trunk": "operator-local", "overflow_region": "muba"}) is None
    assert overflow_note(routing, {"trunk": "", "overflow_region": "muba"}) is None


async def test_an_overflowed_calls_pop_carries_the_note(tmp_path: Path) -> None:
    routing = routing_with_neighbours(tmp_path)
    hub = LiveHub(TOPICS)
    users = UserStore(tmp_path / "users.toml")
    users.put("ani", "calltaker", "ani-password", sip_endpoint="taker-1")
    store = FakeStore(rows={
        "9.1": {"uniqueid": "9.1", "category": "fire", "trunk": "center-banyuasin",
                "overflow_region": "muba"},
        "9.2": {"uniqueid": "9.2", "category": "police", "trunk": "center-banyuasin"}})
    service = WorkspaceService(FakeQueues(), store, users, hub, lambda: QUEUES,
                               lookup_seconds=0.3, routing=lambda: routing)
    ani = watch(hub, "ani")
    pops: list[dict[str, Any]] = []
    for uniqueid in ("9.1", "9.2"):
        ani.sent.clear()
        service.on_event(called(uniqueid=uniqueid))
        await eventually(lambda: any(e["kind"] == "call.ringing" for e in ani.sent),
                         f"the pop of {uniqueid}", within=10)
        [pop] = [e["data"] for e in ani.sent if e["kind"] == "call.ringing"]
        pops.append(pop)
    assert pops[0]["overflow"]["neighbour_name"] == "Banyuasin Siaga 112"
    assert pops[0]["overflow"]["region_name"] == "Kabupaten Musi Banyuasin"
    assert "overflow" not in pops[1]
    await service.stop()
    await hub.close_all()


def test_the_ivrs_overflow_reaches_the_wall_through_the_bus_named_by_our_config(
        tmp_path: Path) -> None:
    """The wiring (ivr and wall plugins): what the IVR publishes marks the wall's call with
    the same note as the desk's pop; a call on a trunk our config does not know is not
    marked, whatever region it names."""
    routing_with_neighbours(tmp_path)
    settings = load_settings(None, environ={}, overrides={
        "ami": {"secret": "not-used"},
        "database": {"url": "postgresql+asyncpg://nobody@127.0.0.1:9/none"},
        "ivr": {"routing_config": str(tmp_path / "routing.toml")}})
    service = Service(settings)  # nothing started: no connection is made
    service.core.bus.publish(CallOverflowed("9.1", "center-banyuasin", "muba"))
    service.core.bus.publish(CallOverflowed("9.2", "operator-local", "muba"))
    assert service.wall.state.overflowed == {"9.1": overflow_note(
        service.routing, {"trunk": "center-banyuasin", "overflow_region": "muba"})}
    assert service.wall.state.overflowed["9.1"]["neighbour"] == "banyuasin"
