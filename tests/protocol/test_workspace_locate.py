"""GET /api/workspace/locate against the real web app on a free port: the desk's reverse
look-up of a point and its wrong-regency check, from the routing config's boundaries (the
example's, tests/boundaries.py); who may ask, and what is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.web.auth import UserStore
from ntpd_ivr.web.hub import DEFAULT_TOPICS, LiveHub
from ntpd_ivr.workspace import http as workspace_http
from ntpd_ivr.workspace.model import TOPICS
from ntpd_ivr.workspace.service import WorkspaceService
from tests.boundaries import example_with_boundaries
from tests.protocol.webtools import Client, log_in, serving_web
from tests.workspace_fakes import FakeQueues, FakeStore

LOCATE = "/api/workspace/locate"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    routing = load_routing_config(example_with_boundaries(tmp_path))

    def domains(users: UserStore, hub: LiveHub) -> tuple[Any, ...]:
        service = WorkspaceService(FakeQueues(), FakeStore(), users, hub,
                                   lambda: ("takers-palembang",), routing=lambda: routing)
        return (workspace_http.routes(service),)

    async with serving_web(tmp_path, hub=LiveHub({**DEFAULT_TOPICS, **TOPICS}),
                           domains=domains) as test_client:
        yield test_client


async def test_a_point_is_looked_up_and_a_point_outside_the_calls_region_says_where(
        client: Client) -> None:
    assert (await client.get(LOCATE, params={"lat": "-2.9", "lon": "104.7"})).status == 401
    await log_in(client, "ani")
    inside = await client.get(LOCATE, params={"lat": "-2.9761", "lon": "104.7754",
                                              "region": "palembang"})
    assert inside.status == 200
    assert await inside.json() == {
        "lat": -2.9761, "lon": 104.7754, "home": "palembang", "inside": True,
        "region": "palembang", "region_name": "Kota Palembang",
        "kecamatan": "Bukit Kecil", "desa": "26 Ilir"}
    outside = await (await client.get(LOCATE, params={"lat": "-2.8893", "lon": "103.8512",
                                                      "region": "palembang"})).json()
    assert (outside["inside"], outside["region"], outside["region_name"]) == (
        False, "muba", "Kabupaten Musi Banyuasin")


@pytest.mark.parametrize("params", [
    {}, {"lat": "x", "lon": "104"}, {"lat": "-91", "lon": "104"}, {"lat": "nan", "lon": "1"},
    {"lat": "-2.9", "lon": "181"},
])
async def test_a_point_off_the_globe_is_a_400(client: Client, params: dict[str, str]) -> None:
    await log_in(client, "ani")
    reply = await client.get(LOCATE, params=params)
    assert reply.status == 400 and (await reply.json())["error"] == "bad-request"
