"""AmiFanOut: every plugin's handler gets every AMI event, in the plugin list's order; no
coroutine when nobody waits (the AMI consumer's per-event cost, docs/performance.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ntpd_ivr.ami.events import AmiEvent, Hangup
from ntpd_ivr.core import AmiFanOut


def hangup(uniqueid: str) -> Hangup:
    return Hangup(name="Hangup", received_at=1.0, uniqueid=uniqueid, linkedid=uniqueid,
                  channel="PJSIP/x-1",
                  cause=16, cause_txt="Normal Clearing")


def test_handlers_that_never_wait_make_no_coroutine() -> None:
    seen: list[tuple[str, str]] = []

    def handler(name: str) -> Callable[[AmiEvent], None]:
        def handle(event: AmiEvent) -> None:
            assert isinstance(event, Hangup)
            seen.append((name, event.uniqueid))
        return handle

    fanout = AmiFanOut(events=[handler("a"), handler("b")])
    assert fanout.on_event(hangup("1.1")) is None
    assert seen == [("a", "1.1"), ("b", "1.1")]


async def test_a_waiting_handler_is_awaited_before_the_next_handler_gets_the_event() -> None:
    seen: list[str] = []
    gate = asyncio.Event()

    def noted(what: str) -> Callable[[AmiEvent], None]:
        return lambda _: seen.append(what)

    async def waits(event: AmiEvent) -> None:
        seen.append("waits: start")
        await gate.wait()
        seen.append("waits: done")

    fanout = AmiFanOut(events=[noted("first"), waits, noted("after")])
    pending = fanout.on_event(hangup("1.2"))
    assert pending is not None and seen == ["first"]
    task = asyncio.ensure_future(pending)
    await asyncio.sleep(0.01)
    assert seen == ["first", "waits: start"], "the next handler ran before the wait ended"
    gate.set()
    await task
    assert seen == ["first", "waits: start", "waits: done", "after"]
