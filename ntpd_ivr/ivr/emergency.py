"""The 112 IVR: greet in Bahasa Indonesia, read one digit, route the call.

Handlers decide and set channel variables; the dialplan does Queue() or the agency bridge.
NTPD_QUEUE is set last: if anything fails before it, the dialplan sees it empty and takes
its fallback. A legacy number (110, 113, 115, 118, 119) already says what the caller needs:
no menu. The English menu (one key) is played only while it still fits the time budget
(`ivr.max_seconds_in_ivr` of the routing config, 10 s by default); otherwise, and after
it, the caller goes on: the IVR never loops and never hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.agi.channel import AgiChannel
from ntpd_ivr.calls.records import CallStep, CallUpdate
from ntpd_ivr.errors import AgiError, AgiHangup
from ntpd_ivr.numbers import canonical_caller
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.routing.engine import CallFacts, LiveState, route
from ntpd_ivr.settings import IvrSettings

# A record write must never hold a caller: past this, the caller goes on and we log.
RECORD_WAIT_SECONDS = 1.0
HANGUP_SETTLE_SECONDS = 0.2
MIN_WAIT_MS = 1000


class RecordSink(Protocol):
    async def record(self, update: CallUpdate | CallStep) -> None: ...


class LiveStateSource(Protocol):
    async def snapshot(self) -> LiveState: ...


class _NoLiveState:
    async def snapshot(self) -> LiveState:
        return {}


class _HungUp(Exception):
    pass


class EmergencyIvr:
    def __init__(self, settings: IvrSettings, records: RecordSink,
                 routing: RoutingConfig | None = None,
                 live: LiveStateSource | None = None) -> None:
        self.settings = settings
        self.records = records
        self.routing = routing or RoutingConfig.minimal(settings.default_queue)
        self.live = live or _NoLiveState()

    async def _write(self, channel: AgiChannel, record: CallUpdate | CallStep) -> None:
        try:
            await asyncio.wait_for(self.records.record(record), RECORD_WAIT_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            channel.log.exception("call record not confirmed in time; call goes on")

    async def _record(self, channel: AgiChannel, **fields: Any) -> None:
        try:
            update = CallUpdate(uniqueid=channel.request.uniqueid, at=time.time(), **fields)
        except ValueError:
            channel.log.exception("unstorable call update %r", fields)
            return
        await self._write(channel, update)

    async def _step(self, channel: AgiChannel, kind: str, **detail: Any) -> None:
        try:
            step = CallStep(channel.request.uniqueid, time.time(), kind, detail)
        except ValueError:
            channel.log.exception("unstorable call step %s %r", kind, detail)
            return
        await self._write(channel, step)

    async def _menu(self, channel: AgiChannel, language: str, timeout_ms: int) -> tuple[str, bool]:
        """One GET DATA of prompts/<language>/menu; raises _HungUp when the caller left."""
        prompt = f"{self.settings.prompts_dir}/{language}/menu"
        await self._step(channel, "ivr.prompt", prompt=f"{language}/menu", timeout_ms=timeout_ms)
        try:
            digit, timed_out = await channel.get_data(prompt, timeout_ms, 1)
        except AgiHangup:
            raise _HungUp from None
        except AgiError:
            # result=-1: a hang-up during the prompt, or a prompt Asterisk cannot play.
            # HANGUP arrives just after that reply; give it a moment to tell the two apart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(channel.wait_hangup(), HANGUP_SETTLE_SECONDS)
            if channel.hung_up:
                raise _HungUp from None
            channel.log.error("menu prompt %s failed; routing the caller as no input", prompt)
            digit, timed_out = "", True
        await self._step(channel, "ivr.input", prompt=f"{language}/menu", digit=digit,
                         timed_out=timed_out)
        return digit, timed_out

    async def __call__(self, channel: AgiChannel) -> None:
        started = time.monotonic()
        # This call keeps the routing config it started with, whatever a reload brings.
        routing = self.routing
        request = channel.request
        dialed = request.args[0] if request.args else request.extension
        trunk = request.args[1] if len(request.args) > 1 else ""
        caller = canonical_caller(request.caller_number)  # +62..., or "withheld"/"unknown"
        await self._record(channel, caller_number=caller, trunk=trunk or None,
                           dialed=dialed or None, arrived_at=time.time())
        budget = routing.ivr
        digit: str | None = None
        english = False
        try:
            if dialed not in routing.legacy_numbers:
                wait_ms = int(min(budget.prompt_timeout_ms,
                                  (budget.max_seconds_in_ivr - budget.menu_seconds) * 1000))
                digit, _ = await self._menu(channel, budget.language, max(wait_ms, MIN_WAIT_MS))
                if budget.english_key and digit == budget.english_key:
                    left = budget.max_seconds_in_ivr - (time.monotonic() - started)
                    wait_ms = int(min(budget.prompt_timeout_ms,
                                      (left - budget.english_menu_seconds) * 1000))
                    if wait_ms >= MIN_WAIT_MS:
                        digit, _ = await self._menu(channel, "en", wait_ms)
                    else:
                        # No time left for a second menu: a call-taker is faster.
                        english = True
        except _HungUp:
            channel.log.info("caller hung up during the menu")
            await self._step(channel, "ivr.hangup", seconds=round(time.monotonic() - started, 3))
            await self._record(channel, route_reason="hangup-in-ivr")
            return

        facts = CallFacts(trunk=trunk, dialed=dialed, caller=caller,
                          digit=digit, at=datetime.now(UTC), english_requested=english)
        live = await self.live.snapshot()
        decision = route(facts, routing, live)
        channel.log.info(
            "digit=%r region=%s(%s) -> queue=%s (%s) category=%s priority=%d (%s) agency=%s (%s)",
            digit, decision.region, decision.region_match, decision.queue,
            decision.queue_reason, decision.category, decision.priority, decision.reason,
            decision.agency or "-", decision.agency_reason)
        await self._step(channel, "route.decision", **decision.as_detail(),
                         seconds_in_ivr=round(time.monotonic() - started, 3))
        await channel.set_variable(dp.VAR_DIGIT, digit or "")
        await channel.set_variable(dp.VAR_CATEGORY, decision.category)
        await channel.set_variable(dp.VAR_ROUTE_REASON, decision.reason)
        await channel.set_variable(dp.VAR_QUEUE_PRIO, str(decision.priority))
        await channel.set_variable(dp.VAR_AGENCY, decision.agency)
        await channel.set_variable(dp.VAR_QUEUE, decision.queue)
        await self._record(channel, ivr_digit=digit or "", category=decision.category,
                           queue=decision.queue, route_reason=decision.reason)
