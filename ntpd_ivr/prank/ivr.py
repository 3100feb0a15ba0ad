"""The prank policy on the call path, called by the 112 IVR (ntpd_ivr/ivr/emergency.py):
before the menu, the warning or the block message with its escape key; after the routing
decision, the queue priority. Every fault lets the caller on, as if strike-free."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.agi.channel import AgiChannel
from ntpd_ivr.errors import AgiError, AgiHangup
from ntpd_ivr.prank.model import STRIKE_FREE, Gate, PolicyAction
from ntpd_ivr.prank.policy import queue_priority
from ntpd_ivr.prank.service import PrankService
from ntpd_ivr.routing.config import UNCLASSIFIED, RoutingConfig
from ntpd_ivr.routing.engine import CallFacts, Decision, identify_region

HANGUP_SETTLE_SECONDS = 0.2
ANY_KEY = "0123456789*#"
PROMPT_LANGUAGE = "id"  # the warning and block messages are in Bahasa Indonesia
Step = Callable[..., None]  # EmergencyIvr._step bound to the channel: (kind, **detail)


class PrankGate:
    def __init__(self, service: PrankService, prompts_dir: str) -> None:
        self.service = service
        self.prompts_dir = prompts_dir

    def _prompt(self, name: str) -> str:
        return f"{self.prompts_dir}/{PROMPT_LANGUAGE}/{name}"

    async def before_menu(self, channel: AgiChannel, routing: RoutingConfig, facts: CallFacts,
                          step: Step) -> Gate:
        """The policy's prompts. Raises AgiHangup if the caller hung up meanwhile."""
        uniqueid = channel.request.uniqueid
        try:
            region = identify_region(facts, routing)[0].key
            self.service.call_started(uniqueid, facts.caller, region)
            action = self.service.action_for(facts.caller, region,
                                             legacy=facts.dialed in routing.legacy_numbers)
        except Exception:
            channel.log.exception("prank policy failed; the caller is strike-free")
            return Gate(STRIKE_FREE)
        if action.level == "none":
            return Gate(action)
        channel.log.info("prank policy for %s: %s (%d strike(s))", facts.caller,
                         action.level, action.strikes)
        step("prank.policy", region=region, **action.as_detail())
        if action.level == "block":
            try:
                return await self._block(channel, facts.caller, region, action, step)
            except AgiError:
                await self._hung_up_or_go_on(channel)
                return Gate(action)
        self.service.applied(uniqueid, facts.caller, region, action, action.level)
        if action.level == "warn":
            return Gate(action, warn_prompt=self._prompt("prank-warn"))
        return Gate(action)

    async def _block(self, channel: AgiChannel, caller: str, region: str,
                     action: PolicyAction, step: Step) -> Gate:
        uniqueid = channel.request.uniqueid
        policy = self.service.policy(region)
        digit = ""
        if action.escape:
            key = policy.escape_key
            # Any key stops the message (and is DTMF: not a silent caller); only the escape
            # key reaches a call-taker.
            digit = await channel.stream_file(self._prompt("prank-block"), ANY_KEY)
            if digit != key:
                if digit:
                    self.service.dtmf(uniqueid)
                digit, _ = await channel.get_data(self._prompt(f"prank-escape-{_key_name(key)}"),
                                                  policy.escape_wait_ms, 1)
            if digit == key:
                self.service.dtmf(uniqueid)
                self.service.applied(uniqueid, caller, region, action, "escape")
                step("prank.escape", key=key)
                channel.log.info("blocked caller %s pressed the escape key", caller)
                return Gate(action, escape_digit=key)
        else:
            await channel.stream_file(self._prompt("prank-blocked"))
        self.service.applied(uniqueid, caller, region, action, "block")
        self.service.call_blocked(uniqueid)
        step("prank.blocked", escape=action.escape, pressed=digit)
        await channel.set_variables({dp.VAR_BLOCKED: "1"})
        return Gate(action, blocked=True)

    async def _hung_up_or_go_on(self, channel: AgiChannel) -> None:
        # result=-1: a hang-up during the prompt, or a prompt Asterisk cannot play.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(channel.wait_hangup(), HANGUP_SETTLE_SECONDS)
        if channel.hung_up:
            raise AgiHangup("caller hung up during the prank prompt")
        channel.log.error("prank prompt failed; the caller goes on to the menu")

    def priority(self, decision: Decision, routing: RoutingConfig,
                 gate: Gate) -> tuple[Decision, dict[str, Any]]:
        """The decision with the policy's queue priority, and what to record of it."""
        if gate.action.level == "none":
            return decision, {}
        try:
            category = routing.categories[decision.category]
            unclassified = routing.categories[UNCLASSIFIED].priority
            priority, why = queue_priority(category, unclassified, gate.action,
                                           self.service.policy(decision.region))
        except Exception:
            return decision, {}
        return (dataclasses.replace(decision, priority=priority),
                {"category_priority": decision.priority, "priority": priority,
                 "priority_reason": why, "level": gate.action.level})

    def dtmf(self, uniqueid: str) -> None:
        """The caller pressed a key in the menu (a sign the call is not silent)."""
        self.service.dtmf(uniqueid)


def _key_name(key: str) -> str:
    return {"*": "star", "#": "pound"}.get(key, key)
