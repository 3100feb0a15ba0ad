"""The in-process bus: typed events to their subscribers, a failing handler logged and
the others still served; awaited handlers inside the publisher's work."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from ntpd_ivr.bus import Bus


@dataclass(frozen=True)
class Rang:
    call: str


@dataclass(frozen=True)
class Other:
    call: str


def test_each_subscriber_of_the_type_gets_the_event_in_order() -> None:
    bus, seen = Bus(), []
    bus.subscribe(Rang, lambda e: seen.append(("a", e.call)))
    bus.subscribe(Rang, lambda e: seen.append(("b", e.call)))
    bus.subscribe(Other, lambda e: seen.append(("other", e.call)))
    bus.publish(Rang("1.1"))
    assert seen == [("a", "1.1"), ("b", "1.1")]


def test_a_failing_handler_is_logged_and_the_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    bus, seen = Bus(), []

    def broken(event: Rang) -> None:
        raise RuntimeError("boom")
    bus.subscribe(Rang, broken)
    bus.subscribe(Rang, lambda e: seen.append(e.call))
    with caplog.at_level(logging.ERROR, logger="ntpd_ivr.bus"):
        bus.publish(Rang("1.2"))
    assert seen == ["1.2"]
    assert "broken" in caplog.text and "boom" in caplog.text


async def test_awaited_handlers_run_in_order_and_their_failure_is_the_publishers() -> None:
    bus, seen = Bus(), []

    async def first(event: Rang) -> None:
        seen.append(event.call)

    async def second(event: Rang) -> None:
        raise ValueError("refused")
    bus.subscribe_awaited(Rang, first)
    bus.subscribe_awaited(Rang, second)
    with pytest.raises(ValueError, match="refused"):
        await bus.call(Rang("1.3"))
    assert seen == ["1.3"]
    await Bus().call(Rang("1.4"))  # nobody subscribed: nothing to do
