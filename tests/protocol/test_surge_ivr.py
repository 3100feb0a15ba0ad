"""Surge mode in the 112 IVR, on the real FastAgiServer with a scripted Asterisk: the
announcement first, key 8's information and thanks (then hung up, or 0 for a call-taker
queued behind the others), a menu key during the announcement, and every fault (surge mode
unreadable, its audio broken, a prompt that cannot play, a stray key) still reaching the
call-taker queue."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.alerts.model import SurgeMode
from ntpd_ivr.calls.values import CallUpdate
from ntpd_ivr.ivr import surge as rules
from ntpd_ivr.ivr.emergency import EmergencyIvr
from ntpd_ivr.ivr.surge import SurgeAudio, SurgeView
from ntpd_ivr.settings import IvrSettings

from .conftest import STEP, Dial, FakeAsterisk, serving
from .test_emergency_ivr import (
    ARGS,
    FAILED,
    FAST,
    SLACK,
    TIMEOUT,
    Call,
    Menu,
    Records,
    ScriptedAsterisk,
    pressed,
    routed_as,
)

NOW = datetime.now(UTC)
MODE = SurgeMode(alert_id=7, headline="Gempa Mag:5.8", announcement="BMKG: gempa M5,8.",
                 information="Tidak berpotensi tsunami.", started_at=NOW,
                 ends_at=NOW + timedelta(minutes=30), started_by="budi", region="muba")
ANNOUNCEMENT = f"id/{rules.GENERIC_ANNOUNCEMENT}"
INFORMATION = f"id/{rules.GENERIC_INFORMATION}"
THANKS = f"id/{rules.THANKS}"

_ANY_GET_DATA = re.compile(r'^GET DATA "/(?:prompts|media)/([^"]*)" (\d+) 1$')
_STREAM_FILE = re.compile(r'^STREAM FILE "/(?:prompts|media)/([^"]*)" "([^"]*)"$')


class SurgeAsterisk(ScriptedAsterisk):
    """The scripted Asterisk, also playing STREAM FILE (a key, or to the end) and HANGUP."""

    def __init__(self, fake: FakeAsterisk, menus: Mapping[str, Menu]) -> None:
        super().__init__(fake, menus)
        self.hung_up = False

    def _menu(self, prompt: str) -> Menu:
        # The alert's own audio (surge/alert-<id>-<which>-<hash>) answers as the generic.
        if prompt.startswith("surge/"):
            prompt = ANNOUNCEMENT if "-announcement-" in prompt else INFORMATION
        return self.menus[prompt]

    async def _answer(self, command: str, at: float) -> Sequence[str]:
        if match := _ANY_GET_DATA.match(command):
            self.prompts.append((match[1], int(match[2])))
            menu = self._menu(match[1])
            await asyncio.sleep(menu.seconds)
            if menu.hangup_after is None:
                return menu.reply
            self.fake.send(*menu.reply)
            await asyncio.sleep(menu.hangup_after)
            return ("HANGUP",)
        if match := _STREAM_FILE.match(command):
            self.prompts.append((match[1], 0))
            reply = self._menu(match[1]).reply
            if reply == TIMEOUT:
                return ("200 result=0 endpos=8000",)
            if reply[0].startswith("200 result=") and len(reply[0]) == 12:  # pressed(key)
                return (f"200 result={ord(reply[0][11])} endpos=4000",)
            return reply
        if command == "HANGUP":
            self.hung_up = True
            return ("200 result=1",)
        return await super()._answer(command, at)


class Surge:
    def __init__(self, mode: SurgeMode | None = MODE, broken: bool = False) -> None:
        self.mode, self.broken = mode, broken

    def current(self) -> SurgeMode | None:
        if self.broken:
            raise RuntimeError("surge state unreadable")
        return self.mode


class BrokenAudio(SurgeAudio):
    async def prompt(self, mode: SurgeMode, which: str) -> str | None:
        raise RuntimeError("audio cache corrupted")


@dataclasses.dataclass
class SurgeCall(Call):
    asterisk: SurgeAsterisk


async def place(dial: Dial, menus: Mapping[str, Menu], *, surge: SurgeView | None = None,
                audio: SurgeAudio | None = None, args: tuple[str, ...] = ARGS,
                budget: float = 5.0) -> SurgeCall:
    records = Records()
    view = surge if surge is not None else Surge()
    ivr = EmergencyIvr(IvrSettings(prompts_dir="/prompts"), records, FAST,
                       surge=lambda: view, surge_audio=audio)
    async with serving({dp.SCRIPT_EMERGENCY_IVR: ivr}, call_budget_seconds=budget,
                       reply_timeout_seconds=budget) as server:
        asterisk = SurgeAsterisk(await dial(server.port, args=args), menus)
        seconds = await asterisk.serve(budget + rules.PROMPT_SECONDS + STEP + SLACK)
    return SurgeCall(asterisk, records, seconds)


def step_kinds(call: Call) -> list[str]:
    return [r.kind for r in call.records.kept if hasattr(r, "kind")]


async def test_the_announcement_plays_first_and_a_menu_key_goes_on_at_its_priority(
        dial: Dial) -> None:
    call = await place(dial, {ANNOUNCEMENT: Menu(TIMEOUT), "id/menu": Menu(pressed("1"))})
    assert [p for p, _ in call.asterisk.prompts] == [ANNOUNCEMENT, "id/menu"]
    routed_as(call, "1", "ambulance", "menu", 10)
    [announced] = call.records.steps("surge.announcement")
    assert announced.detail == {"alert_id": 7, "region": "muba", "synthesized": False}
    [priority] = call.records.steps("surge.priority")
    assert priority.detail == {"priority": 10, "about_alert": False}


async def test_a_menu_key_during_the_announcement_skips_the_menu(dial: Dial) -> None:
    call = await place(dial, {ANNOUNCEMENT: Menu(pressed("2"))})
    assert [p for p, _ in call.asterisk.prompts] == [ANNOUNCEMENT]
    routed_as(call, "2", "fire", "menu", 10)


async def test_key_8_hears_the_information_is_thanked_and_hung_up(dial: Dial) -> None:
    call = await place(dial, {ANNOUNCEMENT: Menu(pressed("8")), INFORMATION: Menu(TIMEOUT),
                              THANKS: Menu(TIMEOUT)})
    assert [p for p, _ in call.asterisk.prompts] == [ANNOUNCEMENT, INFORMATION, THANKS]
    assert call.asterisk.hung_up
    assert dp.VAR_QUEUE not in call.asterisk.variables
    assert call.records.routed() == []
    [outcome] = [r for r in call.records.kept if isinstance(r, CallUpdate) and r.route_reason]
    assert (outcome.route_reason, outcome.category, outcome.ivr_digit) == (
        "surge-information", "surge-information", "8")
    assert "surge.information" in step_kinds(call)


async def test_key_0_after_the_information_reaches_a_call_taker_behind_the_others(
        dial: Dial) -> None:
    call = await place(dial, {ANNOUNCEMENT: Menu(pressed("8")), INFORMATION: Menu(TIMEOUT),
                              THANKS: Menu(pressed("0"))})
    about = rules.about_alert_priority(FAST)
    assert about < min(c.priority for c in FAST.categories.values())
    routed_as(call, "0", "unclassified", "surge-information-operator", about)
    assert not call.asterisk.hung_up


async def test_0_during_the_information_and_a_menu_key_after_it(dial: Dial) -> None:
    call = await place(dial, {ANNOUNCEMENT: Menu(pressed("8")), INFORMATION: Menu(pressed("0"))})
    routed_as(call, "0", "unclassified", "surge-information-operator",
              rules.about_alert_priority(FAST))
    # Another emergency after all: key 1 after the thanks is an ambulance, not "about it".
    call = await place(dial, {ANNOUNCEMENT: Menu(pressed("8")), INFORMATION: Menu(TIMEOUT),
                              THANKS: Menu(pressed("1"))})
    routed_as(call, "1", "ambulance", "menu", 10)


async def test_a_stray_key_or_silence_in_the_announcement_still_reaches_the_queue(
        dial: Dial) -> None:
    call = await place(dial, {ANNOUNCEMENT: Menu(pressed("*"))})
    routed_as(call, "*", "unclassified", "invalid-input", 5)
    call = await place(dial, {ANNOUNCEMENT: Menu(TIMEOUT), "id/menu": Menu(TIMEOUT)})
    routed_as(call, "", "unclassified", "no-input", 5)


async def test_faults_in_the_surge_branch_go_on_to_the_menu_and_the_queue(
        dial: Dial, tmp_path: Path) -> None:
    menus = {ANNOUNCEMENT: Menu(FAILED), "id/menu": Menu(pressed("3"))}
    # The announcement cannot play (result=-1 and no hang-up).
    call = await place(dial, menus)
    routed_as(call, "3", "police", "menu", 8)
    assert len(call.records.steps("surge.fault")) == 1
    # Surge mode unreadable: as without surge mode.
    call = await place(dial, {"id/menu": Menu(pressed("3"))}, surge=Surge(broken=True))
    routed_as(call, "3", "police", "menu", 8)
    # The audio crashes: a fault step, then the menu.
    audio = BrokenAudio(str(tmp_path), "/media", lambda text, out: None)
    call = await place(dial, {"id/menu": Menu(pressed("3"))}, audio=audio)
    routed_as(call, "3", "police", "menu", 8)
    [fault] = call.records.steps("surge.fault")
    assert "audio cache corrupted" in fault.detail["error"]


async def test_the_alerts_own_audio_plays_once_made(dial: Dial, tmp_path: Path) -> None:
    def render(text: str, out: Path) -> None:
        out.write_bytes(b"RIFF")

    audio = SurgeAudio(str(tmp_path), "/media", render)
    call = await place(dial, {ANNOUNCEMENT: Menu(TIMEOUT), "id/menu": Menu(pressed("4"))},
                       audio=audio)
    [(played, _), _menu] = call.asterisk.prompts
    assert re.fullmatch(r"surge/alert-7-announcement-[0-9a-f]{16}", played), played
    assert (tmp_path / "surge" / f"{played.split('/')[1]}.wav").exists()
    assert call.records.steps("surge.announcement")[0].detail["synthesized"] is True
    await audio.close()


async def test_callers_of_a_region_the_alert_does_not_cover_hear_no_announcement(
        dial: Dial) -> None:
    # An alert for Palembang, a caller on Musi Banyuasin's number (1120714).
    palembang = dataclasses.replace(MODE, region="palembang")
    call = await place(dial, {"id/menu": Menu(pressed("1"))}, surge=Surge(palembang),
                       args=("1120714", "operator-local"))
    assert [p for p, _ in call.asterisk.prompts] == ["id/menu"]
    assert "surge.announcement" not in step_kinds(call)
    [routed] = call.records.routed()
    assert (routed.region, routed.category, routed.priority) == ("muba", "ambulance", 10)
    # Surge mode off: nothing either.
    call = await place(dial, {"id/menu": Menu(pressed("1"))}, surge=Surge(None))
    assert [p for p, _ in call.asterisk.prompts] == ["id/menu"]
    routed_as(call, "1", "ambulance", "menu", 10)


async def test_an_announcement_longer_than_the_call_budget_is_heard_to_the_end(
        dial: Dial) -> None:
    # 1.5 s of announcement against a 1 s call budget and reply timeout: the surge branch
    # extends both, then the menu gets a whole budget of its own.
    call = await place(dial, {ANNOUNCEMENT: Menu(TIMEOUT, seconds=1.5),
                              "id/menu": Menu(pressed("2"), seconds=0.5)}, budget=1.0)
    routed_as(call, "2", "fire", "menu", 10)
    assert call.seconds >= 2.0
