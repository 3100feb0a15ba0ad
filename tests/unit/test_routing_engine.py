"""The routing engine, branch by branch, on the shipped South Sumatra example."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import pytest

from ntpd_ivr.routing.config import RoutingConfig, load_routing_config
from ntpd_ivr.routing.engine import CallFacts, QueueState, route

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"
# 03:00 UTC = 10:00 WIB (office hours); 13:00 UTC = 20:00 WIB (after hours).
DAY = datetime(2025, 3, 3, 3, 0, tzinfo=UTC)
NIGHT = datetime(2025, 3, 3, 13, 0, tzinfo=UTC)
STAFFED = QueueState(logged_in=2, available=2, callers=0, longest_wait_seconds=0)
EMPTY = QueueState(logged_in=0, available=0, callers=0, longest_wait_seconds=0)
BUSY = QueueState(logged_in=2, available=0, callers=9, longest_wait_seconds=45)
ALL_STAFFED = MappingProxyType({"takers-default": STAFFED, "takers-palembang": STAFFED,
                                "takers-muba": STAFFED})


@pytest.fixture(scope="module")
def config() -> RoutingConfig:
    return load_routing_config(EXAMPLE)


def call(digit: str | None = "1", *, trunk: str = "operator-local", dialed: str = "112",
         caller: str = "081234567890", at: datetime = DAY, english: bool = False) -> CallFacts:
    return CallFacts(trunk=trunk, dialed=dialed, caller=caller, digit=digit, at=at,
                     english_requested=english)


@pytest.mark.parametrize(("facts", "region", "match"), [
    (call(), "sumsel", "trunk"),
    (call(trunk="operator-other"), "sumsel", "default"),
    (call(caller="+627115550000"), "palembang", "caller-prefix"),
    (call(caller="+62714123456"), "muba", "caller-prefix"),
    (call(dialed="1120714", caller="+627115550000"), "muba", "did"),  # DID beats the prefix
])
def test_region(config: RoutingConfig, facts: CallFacts, region: str, match: str) -> None:
    decision = route(facts, config, ALL_STAFFED)
    assert (decision.region, decision.region_match) == (region, match)


@pytest.mark.parametrize(("facts", "category", "priority", "reason"), [
    (call("1"), "ambulance", 10, "menu"),
    (call("2"), "fire", 10, "menu"),
    (call("3"), "police", 8, "menu"),
    (call("4"), "disaster", 8, "menu"),
    (call("0"), "unclassified", 5, "operator-requested"),
    (call(""), "unclassified", 5, "no-input"),
    (call("7"), "unclassified", 5, "invalid-input"),
    (call("#"), "unclassified", 5, "invalid-input"),
    (call("1", english=True), "unclassified", 5, "english-requested"),
    (call(None, dialed="110"), "police", 8, "legacy-110"),
    (call(None, dialed="113"), "fire", 10, "legacy-113"),
    (call(None, dialed="115"), "sar", 9, "legacy-115"),
    (call(None, dialed="118"), "ambulance", 10, "legacy-118"),
    (call(None, dialed="119"), "ambulance", 10, "legacy-119"),
    (call(None, dialed="112"), "unclassified", 5, "no-input"),
])
def test_category_and_priority(config: RoutingConfig, facts: CallFacts, category: str,
                               priority: int, reason: str) -> None:
    decision = route(facts, config, ALL_STAFFED)
    assert (decision.category, decision.priority, decision.reason) == (category, priority, reason)


PLG = "+627115550000"  # callers reach the engine in canonical form
MUBA = "+62714123456"


@pytest.mark.parametrize(("caller", "live", "queue", "queue_reason"), [
    (PLG, ALL_STAFFED, "takers-palembang", "regional"),
    (PLG, {}, "takers-palembang", "live-state-unknown"),
    (MUBA, {"takers-muba": EMPTY, "takers-default": STAFFED}, "takers-default",
     "overflow-no-call-taker"),
    (MUBA, {"takers-muba": EMPTY}, "takers-default", "overflow-no-call-taker"),
    (MUBA, {"takers-muba": BUSY, "takers-default": STAFFED}, "takers-default", "overflow-wait"),
    (MUBA, {"takers-muba": EMPTY, "takers-default": EMPTY}, "takers-muba",
     "regional-overflow-target-empty (overflow-no-call-taker)"),
    ("0812", {"takers-default": EMPTY}, "takers-default",
     "regional-no-overflow-target (overflow-no-call-taker)"),
])
def test_queue_and_overflow(config: RoutingConfig, caller: str,
                            live: dict[str, QueueState], queue: str, queue_reason: str) -> None:
    decision = route(call("3", caller=caller), config, MappingProxyType(live))
    assert (decision.queue, decision.queue_reason) == (queue, queue_reason)


@pytest.mark.parametrize(("facts", "agency", "agency_reason"), [
    (call("2", caller=PLG), "palembang-damkar", "direct"),
    (call(None, dialed="113", caller=PLG), "palembang-damkar", "direct"),
    (call("2", caller=PLG, at=NIGHT), "palembang-damkar", "direct"),  # 24 h
    (call("4", caller=PLG), "palembang-bpbd", "direct"),
    (call("4", caller=PLG, at=NIGHT), "", "after-hours-call-taker (palembang-bpbd)"),
    (call("1", caller=PLG), "", "via-call-taker (palembang-dinkes)"),
    (call(None, dialed="115", caller=PLG), "", "via-call-taker (sumsel-basarnas)"),  # province
    (call("3", caller=PLG), "", "no-agency"),
    (call("2"), "", "no-agency"),
])
def test_agency(config: RoutingConfig, facts: CallFacts, agency: str,
                agency_reason: str) -> None:
    decision = route(facts, config, ALL_STAFFED)
    assert (decision.agency, decision.agency_reason) == (agency, agency_reason)
    # An agency bridge always has a call-taker queue behind it.
    assert decision.queue == "takers-palembang" if facts.caller == PLG else decision.queue


def test_after_hours_agency(config: RoutingConfig) -> None:
    text = EXAMPLE.read_text().replace(
        'hours = "07:30-16:00"', 'hours = "07:30-16:00"\nafter_hours_agency = "palembang-damkar"')
    from ntpd_ivr.routing.config import parse_routing_config
    night = parse_routing_config(text, "x.toml")
    decision = route(call("4", caller=PLG, at=NIGHT), night, ALL_STAFFED)
    assert (decision.agency, decision.agency_reason) == (
        "palembang-damkar", "after-hours-palembang-bpbd")


def test_built_in_config_without_a_file() -> None:
    minimal = RoutingConfig.minimal("takers-default")
    decision = route(call("9", trunk=""), minimal, {})
    assert (decision.queue, decision.category, decision.reason) == (
        "takers-default", "unclassified", "invalid-input")
    assert route(call("1"), minimal, {}).priority == 10
