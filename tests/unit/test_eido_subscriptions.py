"""The EIDO subscriptions without a network: which incident a bus event is about, the
scope rule (an agency hears only of incidents dispatched to it), and a slow subscriber
dropped instead of holding up the others."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ntpd_ivr.eido.model import IncidentFacts
from ntpd_ivr.eido.repository import incident_of
from ntpd_ivr.eido.service import QUEUE_LIMIT, Subscriber, Subscriptions
from ntpd_ivr.routing.config import RoutingConfig
from tests.unit.test_eido_model import incident

CONFIG = RoutingConfig.minimal("takers-default")


class FakeSource:
    def __init__(self, facts: IncidentFacts) -> None:
        self.facts_of = {facts.id: facts}

    async def facts(self, incident_id: int, agency: str | None = None) -> IncidentFacts | None:
        return self.facts_of.get(incident_id)


class FakeSocket:
    def __init__(self) -> None:
        self.closed_with: int | None = None

    async def close(self, *, code: int, message: bytes) -> None:
        self.closed_with = code


def subscribed(agency: str | None) -> Subscriber:
    subscriber = Subscriber(FakeSocket(), "token:test", agency)  # type: ignore[arg-type]
    subscriber.subscriptions.add("s1")
    return subscriber


@pytest.mark.parametrize(("kind", "data", "expected"), [
    ("incident.created", {"id": 4, "category": "fire"}, 4),
    ("incident.closed", {"id": 5}, 5),
    ("dispatch.created", {"id": 9, "incident_id": 6, "agency": "muba-damkar"}, 6),
    ("dispatch.changed", {"id": 9, "incident_id": 7}, 7),
    ("call.disposition", {"call": "1.2", "incident_id": 8}, 8),
    ("call.disposition", {"call": "1.2", "incident_id": None}, None),  # a prank: no incident
    ("incident.created", {"id": "4"}, None),
    ("incident.created", {"id": True}, None),
])
def test_which_incident_a_change_is_about(kind: str, data: dict[str, Any],
                                          expected: int | None) -> None:
    assert incident_of(kind, data) == expected


async def test_an_agency_hears_only_of_incidents_dispatched_to_it() -> None:
    subscriptions = Subscriptions(FakeSource(incident()), lambda: CONFIG,  # type: ignore[arg-type]
                                  "112.test")
    damkar, dinkes, other, desk = (subscribed("muba-damkar"), subscribed("muba-dinkes"),
                                   subscribed("palembang-damkar"), subscribed(None))
    subscriptions.subscribers |= {damkar, dinkes, other, desk}
    await subscriptions.changed(42)
    await subscriptions.changed(404)  # gone: nobody hears of it
    assert [s.queue.qsize() for s in (damkar, dinkes, other, desk)] == [1, 1, 0, 1]
    event = json.loads(damkar.queue.get_nowait())["event"]
    assert event["subscriptionId"] == "s1"
    assert event["notification"][0]["incidentComponent"]["internalIncidentId"] == "42"


async def test_a_slow_subscriber_is_dropped_and_the_others_still_hear() -> None:
    subscriptions = Subscriptions(FakeSource(incident()), lambda: CONFIG,  # type: ignore[arg-type]
                                  "112.test")
    slow, quick = subscribed(None), subscribed(None)
    subscriptions.subscribers |= {slow, quick}
    for _ in range(QUEUE_LIMIT):
        slow.queue.put_nowait("unread")
    await subscriptions.changed(42)
    assert slow not in subscriptions.subscribers
    assert slow.socket.closed_with == 1008  # type: ignore[attr-defined]
    assert quick.queue.qsize() == 1 and quick in subscriptions.subscribers
