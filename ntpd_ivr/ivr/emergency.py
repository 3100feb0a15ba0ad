"""The 112 IVR: greet in Bahasa Indonesia, read one digit, choose the queue.

Handlers decide and set channel variables; the dialplan does Queue(). NTPD_QUEUE is set
last: if anything fails before it, the dialplan sees it empty and takes its fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.agi.channel import AgiChannel
from ntpd_ivr.calls.records import CallUpdate
from ntpd_ivr.errors import AgiError, AgiHangup
from ntpd_ivr.routing.decide import decide
from ntpd_ivr.settings import IvrSettings

log = logging.getLogger(__name__)

# A record write must never hold a caller: past this, the caller goes on and we log.
RECORD_WAIT_SECONDS = 1.0
HANGUP_SETTLE_SECONDS = 0.2


class RecordSink(Protocol):
    async def record(self, update: CallUpdate) -> None: ...


class EmergencyIvr:
    def __init__(self, settings: IvrSettings, records: RecordSink) -> None:
        self.settings = settings
        self.records = records

    async def _record(self, channel: AgiChannel, **fields: Any) -> None:
        try:
            update = CallUpdate(uniqueid=channel.request.uniqueid, at=time.time(), **fields)
            await asyncio.wait_for(self.records.record(update), RECORD_WAIT_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            channel.log.exception("call record update not confirmed in time; call goes on")

    async def _hung_up_in_menu(self, channel: AgiChannel) -> None:
        channel.log.info("caller hung up during the menu")
        await self._record(channel, route_reason="hangup-in-ivr")

    async def __call__(self, channel: AgiChannel) -> None:
        request = channel.request
        dialed = request.args[0] if request.args else request.extension
        trunk = request.args[1] if len(request.args) > 1 else ""
        await self._record(channel, caller_number=request.caller_number, trunk=trunk or None,
                           dialed=dialed or None, arrived_at=time.time())

        prompt = f"{self.settings.prompts_dir}/{self.settings.language}/menu"
        try:
            digit, timed_out = await channel.get_data(prompt, self.settings.digit_timeout_ms, 1)
        except AgiHangup:
            await self._hung_up_in_menu(channel)
            raise
        except AgiError:
            # result=-1: a hang-up during the prompt, or a prompt Asterisk cannot play.
            # HANGUP arrives just after that reply; give it a moment to tell the two apart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(channel.wait_hangup(), HANGUP_SETTLE_SECONDS)
            if channel.hung_up:
                await self._hung_up_in_menu(channel)
                return
            channel.log.error("menu prompt %s failed; routing the caller as no input", prompt)
            digit, timed_out = "", True
        decision = decide(digit, self.settings.default_queue)
        channel.log.info("digit=%r timed_out=%s -> queue=%s category=%s priority=%d (%s)",
                         digit, timed_out, decision.queue, decision.category,
                         decision.priority, decision.reason)
        await channel.set_variable(dp.VAR_DIGIT, digit)
        await channel.set_variable(dp.VAR_CATEGORY, decision.category)
        await channel.set_variable(dp.VAR_ROUTE_REASON, decision.reason)
        await channel.set_variable(dp.VAR_QUEUE_PRIO, str(decision.priority))
        await channel.set_variable(dp.VAR_QUEUE, decision.queue)
        await self._record(channel, ivr_digit=digit, category=decision.category,
                           queue=decision.queue, route_reason=decision.reason)
