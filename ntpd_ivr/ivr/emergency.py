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
import base64
import binascii
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.agi.channel import AgiChannel
from ntpd_ivr.alerts.model import SurgeMode
from ntpd_ivr.calls.values import CallStep, CallUpdate, WaitedSink
from ntpd_ivr.clock import utcnow
from ntpd_ivr.errors import AgiError, AgiHangup
from ntpd_ivr.ivr import surge as surge_rules
from ntpd_ivr.ivr.events import CallOverflowed
from ntpd_ivr.ivr.overflow import overflow_decision, overflow_of
from ntpd_ivr.ivr.surge import SurgeAudio, SurgeView
from ntpd_ivr.location.service import from_dialplan, record_fields
from ntpd_ivr.numbers import canonical_caller, trunk_number
from ntpd_ivr.prank.model import STRIKE_FREE, Gate
from ntpd_ivr.routing.config import UNCLASSIFIED, RoutingConfig
from ntpd_ivr.routing.engine import (
    CallFacts,
    Decision,
    LiveState,
    LiveStateSource,
    choose_queue,
    identify_region,
    route,
)
from ntpd_ivr.settings import IvrSettings
from ntpd_ivr.transfer.model import ROUTE_REASON, TRANSFER_PRIORITY, neighbour_of, reference_of

# A record write must never hold a caller: past this, the caller goes on and we log.
RECORD_WAIT_SECONDS = 1.0
HANGUP_SETTLE_SECONDS = 0.2
MIN_WAIT_MS = 1000


def agency_caller(routing: RoutingConfig, agency_key: str, caller: str) -> str:
    """The caller's number as a direct agency's trunk writes it (its number_format), for
    the caller ID of the dialplan's Dial; "" when the agency says no form or the caller has
    no number (a marker is never sent as one): the number goes as the operator sent it."""
    agency = routing.agencies.get(agency_key)
    if agency is None or not agency.number_format:
        return ""
    try:
        return trunk_number(caller, agency.number_format)
    except ValueError:
        return ""


class PrankCheck(Protocol):
    """The prank policy on the call path (prank/ivr.py PrankGate, given by the plugin)."""

    async def before_menu(self, channel: AgiChannel, routing: RoutingConfig,
                          facts: CallFacts, step: Callable[..., None]) -> Gate: ...

    def priority(self, decision: Decision, routing: RoutingConfig,
                 gate: Gate) -> tuple[Decision, dict[str, Any]]: ...

    def dtmf(self, uniqueid: str) -> None: ...


# Linking a transferred call to the EIDO its center sent must never hold the caller.
TRANSFER_LINK_SECONDS = 0.5


class TransferLink(Protocol):
    """The receiving side of a transfer (ntpd_ivr/transfer, given by its plugin): the EIDO
    the neighbour sent under `reference`, linked to this call; its incident form, or None
    when there is none to link (unknown, another neighbour's, already linked)."""

    async def link(self, uniqueid: str, neighbour: str,
                   reference: str) -> Mapping[str, Any] | None: ...


def _call_info(request_args: Sequence[str]) -> str:
    """Argument 5: the Call-Info header, base64 (the dialplan's NTPD_CALL_INFO)."""
    return _base64_arg(request_args, 4)


def _base64_arg(request_args: Sequence[str], index: int) -> str:
    raw = request_args[index] if len(request_args) > index else ""
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def _overflow_header(request_args: Sequence[str]) -> str:
    """Argument 6: the X-NTPD-Overflow-Region header, base64 (the dialplan's
    NTPD_OVERFLOW_REGION), read only on a neighbour's trunk (ivr/overflow.py)."""
    return _base64_arg(request_args, 5)[:64]


class _NoLiveState:
    async def snapshot(self) -> LiveState:
        return {}


class _HungUp(Exception):
    pass


@dataclass(frozen=True)
class _SurgeOutcome:
    digit: str | None          # the menu's key pressed in the surge branch; None: play the menu
    about_alert: bool = False  # heard the information (key 8)
    done: bool = False         # heard the information and left: no queue


class EmergencyIvr:
    def __init__(self, settings: IvrSettings, records: WaitedSink,
                 routing: RoutingConfig | Callable[[], RoutingConfig] | None = None,
                 live: LiveStateSource | None = None,
                 prank: PrankCheck | None = None,
                 surge: Callable[[], SurgeView | None] | None = None,
                 surge_audio: SurgeAudio | None = None,
                 transfer: Callable[[], TransferLink | None] = lambda: None,
                 overflowed: Callable[[CallOverflowed], None] = lambda _: None) -> None:
        self.settings = settings
        self.overflowed = overflowed  # told of each overflow call (the bus: the wall)
        # Surge mode (ntpd_ivr/alerts), read at call time: the alerts domain loads after us.
        self._surge = surge or (lambda: None)
        self.surge_audio = surge_audio
        self.transfer = transfer  # read at each call: the transfer plugin loads later
        self.prank = prank  # the prank policy (ntpd_ivr/prank); None: none
        self.records = records
        fixed = routing or RoutingConfig.minimal(settings.default_queue)
        # The controller's live config (a SIGHUP reload replaces it there), or a fixed one.
        self._routing: Callable[[], RoutingConfig] = (
            fixed if callable(fixed) else lambda: fixed)
        self.live = live or _NoLiveState()
        # Each live call's last record queued for the spool.
        self._last_record: dict[str, asyncio.Future[None]] = {}

    @property
    def routing(self) -> RoutingConfig:
        return self._routing()

    def _submit(self, channel: AgiChannel, record: CallUpdate | CallStep) -> None:
        try:
            self._last_record[channel.request.uniqueid] = self.records.submit(record)
        except Exception:
            channel.log.exception("call record not queued; call goes on")

    def _record(self, channel: AgiChannel, **fields: Any) -> None:
        try:
            update = CallUpdate(uniqueid=channel.request.uniqueid, at=time.time(), **fields)
        except ValueError:
            channel.log.exception("unstorable call update %r", fields)
            return
        self._submit(channel, update)

    def _step(self, channel: AgiChannel, kind: str, **detail: Any) -> None:
        try:
            step = CallStep(channel.request.uniqueid, time.time(), kind, detail)
        except ValueError:
            channel.log.exception("unstorable call step %s %r", kind, detail)
            return
        self._submit(channel, step)

    async def _durable(self, channel: AgiChannel) -> None:
        """Wait until this call's records so far are in the spool (it is written in order,
        so the last one says it), but never longer than RECORD_WAIT_SECONDS."""
        last = self._last_record.pop(channel.request.uniqueid, None)
        if last is None:
            return
        if not last.done():
            self.records.urge()  # written now, not after the gathering of the others
        # asyncio.wait, not wait_for: a timeout must not cancel the spool's own future.
        done, _ = await asyncio.wait({last}, timeout=RECORD_WAIT_SECONDS)
        if not done:
            channel.log.error("call record not confirmed in time (%s s); call goes on",
                              RECORD_WAIT_SECONDS)
        elif last.exception() is not None:
            channel.log.error("call record write failed (%s); call goes on",
                              last.exception())

    async def _menu(self, channel: AgiChannel, language: str, timeout_ms: int) -> tuple[str, bool]:
        """One GET DATA of prompts/<language>/menu; raises _HungUp when the caller left."""
        prompt = f"{self.settings.prompts_dir}/{language}/menu"
        self._step(channel, "ivr.prompt", prompt=f"{language}/menu", timeout_ms=timeout_ms)
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
        self._step(channel, "ivr.input", prompt=f"{language}/menu", digit=digit,
                         timed_out=timed_out)
        return digit, timed_out

    def _surge_mode(self, channel: AgiChannel, routing: RoutingConfig,
                    facts: CallFacts) -> SurgeMode | None:
        """Surge mode, if it is on for this caller's region; any fault: None (no surge)."""
        try:
            view = self._surge()
            mode = view.current() if view is not None else None
            if mode is None:
                return None
            region = identify_region(facts, routing)[0].key
            return mode if surge_rules.surge_applies(mode, region, routing) else None
        except Exception:
            channel.log.exception("surge mode not read; the caller goes on to the menu")
            return None

    def _prompt(self, name: str) -> str:
        return f"{self.settings.prompts_dir}/id/{name}"

    async def _surge_audio(self, mode: SurgeMode, which: str, generic: str) -> tuple[str, bool]:
        """The alert's own audio, or the recorded generic prompt: (prompt, synthesized)."""
        spoken = None
        if self.surge_audio is not None:
            spoken = await self.surge_audio.prompt(mode, which)
        return (spoken, True) if spoken else (self._prompt(generic), False)

    async def _surge_branch(self, channel: AgiChannel, mode: SurgeMode) -> _SurgeOutcome:
        """The announcement, and key 8's information. Raises _HungUp when the caller left;
        any other fault: the menu, as without surge mode (a fault never keeps a caller
        from a call-taker)."""
        try:
            outcome = await self._surge_prompts(channel, mode)
            channel.extend_budget()  # the menu and the routing: a whole call budget again
            return outcome
        except (_HungUp, AgiHangup):
            raise
        except AgiError as exc:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(channel.wait_hangup(), HANGUP_SETTLE_SECONDS)
            if channel.hung_up:
                raise _HungUp from None
            channel.log.error("surge prompt failed (%s); the caller goes on to the menu", exc)
            self._step(channel, "surge.fault", error=str(exc)[:200])
        except Exception as exc:
            channel.log.exception("surge branch failed; the caller goes on to the menu")
            self._step(channel, "surge.fault", error=f"{type(exc).__name__}: {exc}"[:200])
        channel.extend_budget()
        return _SurgeOutcome(None)

    async def _surge_prompts(self, channel: AgiChannel, mode: SurgeMode) -> _SurgeOutcome:
        prompt, synthesized = await self._surge_audio(mode, "announcement",
                                                      surge_rules.GENERIC_ANNOUNCEMENT)
        self._step(channel, "surge.announcement", alert_id=mode.alert_id,
                   region=mode.region, synthesized=synthesized)
        digit, _ = await self._surge_get_data(channel, prompt, surge_rules.ANNOUNCEMENT_WAIT_MS)
        choice = surge_rules.announcement_choice(digit)
        self._step(channel, "surge.input", digit=digit, choice=choice)
        if choice != "information":
            return _SurgeOutcome(digit or None)
        prompt, synthesized = await self._surge_audio(mode, "information",
                                                      surge_rules.GENERIC_INFORMATION)
        self._step(channel, "surge.information", alert_id=mode.alert_id,
                   synthesized=synthesized)
        try:
            channel.extend_budget(surge_rules.PROMPT_SECONDS)
            key = await channel.stream_file(prompt, surge_rules.OPERATOR_KEY,
                                            timeout=surge_rules.PROMPT_SECONDS)
            if not key:
                key, _ = await self._surge_get_data(channel, self._prompt(surge_rules.THANKS),
                                                    surge_rules.THANKS_WAIT_MS)
        except AgiError:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(channel.wait_hangup(), HANGUP_SETTLE_SECONDS)
            if not channel.hung_up:
                raise
            key = ""  # hung up once informed: an information call all the same
        self._step(channel, "surge.after-information", digit=key)
        if key == surge_rules.OPERATOR_KEY:
            return _SurgeOutcome(key, about_alert=True)
        if key:
            # Another key after all (a menu key): another emergency, queued as one.
            return _SurgeOutcome(key)
        return _SurgeOutcome(None, about_alert=True, done=True)

    async def _surge_get_data(self, channel: AgiChannel, prompt: str,
                              wait_ms: int) -> tuple[str, bool]:
        seconds = surge_rules.PROMPT_SECONDS + wait_ms / 1000
        channel.extend_budget(seconds)
        return await channel.get_data(prompt, wait_ms, 1, timeout=seconds)

    async def _information_heard(self, channel: AgiChannel, mode: SurgeMode) -> None:
        """The caller heard the information and was thanked: recorded, then hung up."""
        self._record(channel, ivr_digit=surge_rules.INFORMATION_KEY,
                     category=surge_rules.INFORMATION_OUTCOME,
                     route_reason=surge_rules.INFORMATION_OUTCOME)
        await self._durable(channel)
        channel.log.info("caller heard surge information of alert %s; hanging up",
                         mode.alert_id)
        if channel.hung_up:
            return
        try:
            await channel.command("HANGUP")
        except AgiError:
            # Not hung up: the dialplan's fallback queue takes the caller, a human after all.
            channel.log.exception("hang-up after the surge information failed")

    async def __call__(self, channel: AgiChannel) -> None:
        try:
            await self._answer(channel)
        finally:
            self._last_record.pop(channel.request.uniqueid, None)

    async def _answer(self, channel: AgiChannel) -> None:
        started = time.monotonic()
        # This call keeps the routing config it started with, whatever a reload brings.
        routing = self.routing
        request = channel.request
        dialed = request.args[0] if request.args else request.extension
        trunk = request.args[1] if len(request.args) > 1 else ""
        caller = canonical_caller(request.caller_number)  # +62..., or "withheld"/"unknown"
        # Arguments 3 and 4: the caller's location as Asterisk read it (ntpd_ivr/location).
        # Recorded with the arrival; it never changes the route and never raises.
        location = from_dialplan(request.args[2] if len(request.args) > 2 else "",
                                 request.args[3] if len(request.args) > 3 else "")
        if location.kind == "malformed":
            channel.log.warning("caller location malformed: %s", location.error)
        self._record(channel, caller_number=caller, trunk=trunk or None,
                     dialed=dialed or None, arrived_at=time.time(),
                     **record_fields(location))
        overflow = overflow_of(routing, trunk, _overflow_header(request.args))
        if overflow is not None:
            channel.log.info("overflow from %s on %s for region %s (%s): through the menu",
                             overflow.neighbour.key, trunk, overflow.overflow_region or "-",
                             overflow.header)
            self._step(channel, "overflow.received", **overflow.detail())
            if overflow.overflow_region:
                self._record(channel, overflow_region=overflow.overflow_region)
                try:
                    self.overflowed(CallOverflowed(request.uniqueid, trunk,
                                                   overflow.overflow_region))
                except Exception:  # the wall's mark: never the caller's problem
                    channel.log.exception("overflow not told to the other domains")
        elif neighbour_of(routing, trunk) is not None:
            await self._transferred(channel, routing, trunk, _call_info(request.args))
            return
        budget = routing.ivr
        digit: str | None = None
        english = False
        surge_mode: SurgeMode | None = None
        about_alert = False
        gate = Gate(STRIKE_FREE)
        try:
            if self.prank is not None:
                gate = await self.prank.before_menu(
                    channel, routing, CallFacts(trunk=trunk, dialed=dialed, caller=caller,
                                                digit=None, at=utcnow()),
                    lambda kind, **detail: self._step(channel, kind, **detail))
                if gate.blocked:
                    self._record(channel, route_reason="prank-blocked")
                    return
                digit = gate.escape_digit
            if dialed not in routing.legacy_numbers and digit is None:
                surge_mode = self._surge_mode(channel, routing, CallFacts(
                    trunk=trunk, dialed=dialed, caller=caller, digit=None, at=utcnow()))
                if surge_mode is not None:
                    outcome = await self._surge_branch(channel, surge_mode)
                    if outcome.done:
                        await self._information_heard(channel, surge_mode)
                        return
                    digit, about_alert = outcome.digit, outcome.about_alert
                if digit is None:
                    wait_ms = int(min(budget.prompt_timeout_ms,
                                      (budget.max_seconds_in_ivr - budget.menu_seconds) * 1000))
                    digit, _ = await self._menu(channel, budget.language,
                                                max(wait_ms, MIN_WAIT_MS))
                if budget.english_key and digit == budget.english_key:
                    left = budget.max_seconds_in_ivr - (time.monotonic() - started)
                    wait_ms = int(min(budget.prompt_timeout_ms,
                                      (left - budget.english_menu_seconds) * 1000))
                    if wait_ms >= MIN_WAIT_MS:
                        digit, _ = await self._menu(channel, "en", wait_ms)
                    else:
                        # No time left for a second menu: a call-taker is faster.
                        english = True
        except (_HungUp, AgiHangup):
            channel.log.info("caller hung up during the menu")
            self._step(channel, "ivr.hangup", seconds=round(time.monotonic() - started, 3))
            self._record(channel, route_reason="hangup-in-ivr")
            return

        facts = CallFacts(trunk=trunk, dialed=dialed, caller=caller,
                          digit=digit, at=utcnow(), english_requested=english)
        live = await self.live.snapshot()
        decision = route(facts, routing, live)
        if overflow is not None:
            # Queued where this center answers for the neighbour (ivr/overflow.py).
            decision = overflow_decision(decision, overflow, routing, live, facts.at)
        if self.prank is not None:
            decision, adjusted = self.prank.priority(decision, routing, gate)
            if adjusted:
                self._step(channel, "prank.priority", **adjusted)
            if digit:
                self.prank.dtmf(request.uniqueid)
        if surge_mode is not None:
            try:
                decision, surge_detail = surge_rules.surge_priority(decision, routing,
                                                                    about_alert)
                self._step(channel, "surge.priority", **surge_detail)
            except Exception:
                channel.log.exception("surge priority failed; the category's priority stays")
        channel.log.info(
            "from %s on %s: digit=%r region=%s(%s) -> queue=%s (%s) category=%s "
            "priority=%d (%s) agency=%s (%s)", request.caller_number or "-",
            request.channel, digit, decision.region, decision.region_match, decision.queue,
            decision.queue_reason, decision.category, decision.priority, decision.reason,
            decision.agency or "-", decision.agency_reason)
        self._step(channel, "route.decision", **decision.as_detail(),
                   seconds_in_ivr=round(time.monotonic() - started, 3))
        self._record(channel, ivr_digit=digit or "", category=decision.category,
                     queue=decision.queue, route_reason=decision.reason,
                     region=decision.region, priority=decision.priority)
        # The decision is on disk before the dialplan acts on it.
        await self._durable(channel)
        # NTPD_QUEUE last: the dialplan reads an empty one as "take the fallback".
        # The prank warning only when there is one (the dialplan cleared it before).
        warn = {dp.VAR_WARN_PROMPT: gate.warn_prompt} if gate.warn_prompt else {}
        # The caller's number for the agency's trunk, only when that trunk says its form.
        number = agency_caller(routing, decision.agency, caller)
        agency_number = {dp.VAR_AGENCY_CALLER: number} if number else {}
        await channel.set_variables({
            dp.VAR_DIGIT: digit or "", dp.VAR_CATEGORY: decision.category,
            dp.VAR_ROUTE_REASON: decision.reason, dp.VAR_QUEUE_PRIO: str(decision.priority),
            dp.VAR_AGENCY: decision.agency, **agency_number, **warn,
            dp.VAR_QUEUE: decision.queue})

    async def _transferred(self, channel: AgiChannel, routing: RoutingConfig, trunk: str,
                           call_info: str) -> None:
        """A caller another 112 center transferred to us on its trunk: no menu, no prank
        gate (a center is calling), the front of its region's queue; the EIDO the center
        sent, when Call-Info names it, linked to the call (the desk's pop shows it)."""
        found = neighbour_of(routing, trunk)
        assert found is not None
        region_key, neighbour = found
        reference = reference_of(call_info)
        form: Mapping[str, Any] | None = None
        why = "no EIDO reference in Call-Info" if reference is None else "linked"
        link = self.transfer()
        if reference is not None and link is not None:
            try:
                form = await asyncio.wait_for(
                    link.link(channel.request.uniqueid, neighbour.key, reference),
                    TRANSFER_LINK_SECONDS)
                if form is None:
                    why = "no EIDO of this neighbour under that reference"
            except TimeoutError:
                why = "EIDO link timed out"
                channel.log.error("transfer: linking the EIDO timed out; caller goes on")
            except Exception:
                why = "EIDO link failed"
                channel.log.exception("transfer: linking the EIDO failed; caller goes on")
        elif reference is not None:
            why = "transfers not received here"
        category = str((form or {}).get("category") or UNCLASSIFIED)
        if category not in routing.categories:
            category = UNCLASSIFIED
        region = routing.regions[region_key]
        live = await self.live.snapshot()
        queue, queue_reason = choose_queue(region, routing, live)
        remote_call = (form or {}).get("remote_call_id")
        channel.log.info("transfer from %s on %s: reference=%s (%s) -> queue=%s (%s)",
                         neighbour.key, trunk, reference or "-", why, queue, queue_reason)
        self._step(channel, "transfer.received", neighbour=neighbour.key, trunk=trunk,
                   reference=reference or "", eido=why, remote_call_id=remote_call or "",
                   remote_incident_id=(form or {}).get("remote_incident_id") or "",
                   queue=queue, queue_reason=queue_reason, priority=TRANSFER_PRIORITY)
        self._record(channel, ivr_digit="", category=category, queue=queue,
                     route_reason=ROUTE_REASON, region=region_key, priority=TRANSFER_PRIORITY)
        await self._durable(channel)
        await channel.set_variables({
            dp.VAR_DIGIT: "", dp.VAR_CATEGORY: category, dp.VAR_ROUTE_REASON: ROUTE_REASON,
            dp.VAR_QUEUE_PRIO: str(TRANSFER_PRIORITY), dp.VAR_AGENCY: "",
            dp.VAR_QUEUE: queue})
