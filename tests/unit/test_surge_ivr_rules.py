"""Surge mode's pure decisions on the call path (ntpd_ivr/ivr/surge.py), table by table, and
the alert's audio: made once per text, never waited for past its bound, retried after a
failure."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ntpd_ivr.alerts.model import SurgeMode
from ntpd_ivr.ivr import surge as rules
from ntpd_ivr.ivr.surge import SurgeAudio
from ntpd_ivr.routing.config import load_routing_config
from ntpd_ivr.routing.engine import Decision

ROUTING = load_routing_config(Path(__file__).resolve().parents[2] / "config"
                              / "routing.example.toml")
NOW = datetime(2026, 12, 7, 12, 40, tzinfo=UTC)
MODE = SurgeMode(alert_id=3, headline="Gempa", announcement="BMKG: gempa M5,8.",
                 information="Tidak berpotensi tsunami.", started_at=NOW,
                 ends_at=NOW + timedelta(minutes=30), started_by="budi", region="muba")


@pytest.mark.parametrize(("mode_region", "caller_region", "applies"), [
    ("muba", "muba", True),            # the alert's own regency
    ("muba", "sumsel", True),          # the province center that answers for it
    ("muba", "palembang", False),      # another regency
    ("palembang", "muba", False),
    ("sumsel", "sumsel", True),
    ("sumsel", "muba", False),         # a province alert: the province's own callers
    ("", "palembang", True),           # no region named: center-wide
    ("atlantis", "palembang", True),   # a region this config does not know: center-wide
])
def test_surge_applies_to_the_alerts_region_and_the_centers_answering_for_it(
        mode_region: str, caller_region: str, applies: bool) -> None:
    mode = dataclasses.replace(MODE, region=mode_region)
    assert rules.surge_applies(mode, caller_region, ROUTING) is applies


def test_no_surge_mode_applies_nowhere() -> None:
    assert rules.surge_applies(None, "muba", ROUTING) is False


@pytest.mark.parametrize(("digit", "choice"), [
    ("8", "information"), ("", "menu"), ("1", "menu-key"), ("0", "menu-key"),
    ("*", "menu-key"), ("9", "menu-key")])
def test_announcement_choice(digit: str, choice: str) -> None:
    assert rules.announcement_choice(digit) == choice


def decision(category: str) -> Decision:
    return Decision(region="sumsel", region_match="trunk", category=category,
                    priority=ROUTING.categories[category].priority, reason="menu",
                    queue="takers-default", queue_reason="regional")


def test_every_category_is_queued_ahead_of_a_caller_about_the_alert() -> None:
    about, detail = rules.surge_priority(decision("unclassified"), ROUTING, about_alert=True)
    assert (about.priority, about.reason) == (4, "surge-information-operator")
    assert detail == {"category_priority": 5, "priority": 4, "about_alert": True}
    for name in ROUTING.categories:
        other, detail = rules.surge_priority(decision(name), ROUTING, about_alert=False)
        assert other == decision(name) and detail["about_alert"] is False
        assert other.priority > about.priority, name


def test_the_about_alert_priority_never_goes_below_zero() -> None:
    zero = {k: dataclasses.replace(c, priority=0) for k, c in ROUTING.categories.items()}
    assert rules.about_alert_priority(dataclasses.replace(ROUTING, categories=zero)) == 0


class Renders:
    def __init__(self, fail: int = 0, gate: threading.Event | None = None) -> None:
        self.texts: list[str] = []
        self.fail = fail
        self.gate = gate

    def __call__(self, text: str, out: Path) -> None:
        self.texts.append(text)
        if self.gate is not None:
            assert self.gate.wait(5)
        if self.fail:
            self.fail -= 1
            raise OSError("espeak-ng: no voice")
        out.write_bytes(b"RIFF" + text.encode())


async def test_the_alerts_audio_is_made_once_per_text(tmp_path: Path) -> None:
    renders = Renders()
    audio = SurgeAudio(str(tmp_path), "/ast/warnings/", renders)
    first = await audio.prompt(MODE, "announcement")
    again = await audio.prompt(MODE, "announcement")
    info = await audio.prompt(MODE, "information")
    assert first == again and first is not None and info is not None
    assert first.startswith("/ast/warnings/surge/alert-3-announcement-")
    assert renders.texts == [MODE.announcement, MODE.information]
    files = sorted(p.name for p in (tmp_path / "surge").iterdir())
    assert len(files) == 2 and not any(".part" in f for f in files)
    # A renewed mode with a new text: a new file.
    changed = dataclasses.replace(MODE, announcement="BMKG: gempa susulan M5,1.")
    assert await audio.prompt(changed, "announcement") != first
    await audio.close()


async def test_a_slow_render_is_not_waited_for_and_is_ready_for_the_next_caller(
        tmp_path: Path) -> None:
    gate = threading.Event()
    audio = SurgeAudio(str(tmp_path), "/ast", Renders(gate=gate), wait_seconds=0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await audio.prompt(MODE, "announcement") is None  # the generic prompt plays
    assert loop.time() - started < 1.0
    gate.set()
    for _ in range(50):  # the render goes on in its thread; bounded wait for it
        if await audio.prompt(MODE, "announcement"):
            break
        await asyncio.sleep(0.05)
    assert await audio.prompt(MODE, "announcement") is not None
    await audio.close()


async def test_a_failed_render_gives_none_then_is_tried_again(tmp_path: Path) -> None:
    renders = Renders(fail=1)
    audio = SurgeAudio(str(tmp_path), "/ast", renders)
    assert await audio.prompt(MODE, "information") is None
    assert await audio.prompt(MODE, "information") is not None
    assert len(renders.texts) == 2
    await audio.close()


async def test_prepare_renders_before_the_first_caller_and_no_media_dir_means_generic(
        tmp_path: Path) -> None:
    renders = Renders()
    audio = SurgeAudio(str(tmp_path), "/ast", renders)
    audio.prepare(MODE)
    audio.prepare(None)
    assert await audio.prompt(MODE, "announcement") is not None
    # Both renders were started by prepare(); the second may still be on its thread.
    assert await audio.prompt(MODE, "information") is not None
    assert sorted(renders.texts) == sorted([MODE.announcement, MODE.information])
    await audio.close()
    nowhere = SurgeAudio("", "/ast", renders)
    nowhere.prepare(MODE)
    assert await nowhere.prompt(MODE, "announcement") is None


async def test_the_media_folder_is_made_but_never_the_folders_above_it(
        tmp_path: Path) -> None:
    renders = Renders()
    audio = SurgeAudio(str(tmp_path / "warnings"), "/ast", renders)
    assert await audio.prompt(MODE, "announcement") is not None
    assert (tmp_path / "warnings" / "surge").is_dir()
    nowhere = SurgeAudio(str(tmp_path / "not-there" / "warnings"), "/ast", renders)
    assert await nowhere.prompt(MODE, "announcement") is None
    assert not (tmp_path / "not-there").exists() and renders.texts == [MODE.announcement]
    await audio.close()
    await nowhere.close()
