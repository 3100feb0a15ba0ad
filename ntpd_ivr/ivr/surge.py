"""Surge mode on the call path (docs/alerts.md, "Surge mode in the IVR").

While the alerts domain holds surge mode on (ntpd_ivr/alerts, read through a SurgeView at
call time), a caller of the regions it covers first hears the alert's announcement. Key 8
plays the information and thanks them; 0 then still reaches a call-taker, queued behind
every other caller ("about the alert"). Any other key, or none, goes on as without surge
mode: a key pressed during the announcement is the menu's key.

The decisions here are pure (no I/O, no clock). SurgeAudio makes the alert's texts into
prompt files with espeak-ng in a thread, cached per alert and text, and never keeps a
caller waiting past its bound: without the file, the recorded generic prompt plays.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ntpd_ivr.alerts.model import SurgeMode
from ntpd_ivr.calls.values import INFORMATION_ONLY
from ntpd_ivr.routing.config import RoutingConfig
from ntpd_ivr.routing.engine import Decision

log = logging.getLogger(__name__)

INFORMATION_KEY = "8"      # "about the alert": the information, then thanks
OPERATOR_KEY = "0"         # after the information: a call-taker all the same
ANNOUNCEMENT_WAIT_MS = 2000  # after the announcement, for key 8 (or a menu key)
THANKS_WAIT_MS = 3000        # after the thanks, for key 0
SYNTH_WAIT_SECONDS = 2.0     # a caller waits at most this for the alert's audio
# A surge prompt may outlast the call budget (12 s) and the AGI reply timeout (15 s): the
# caller is listening, not stuck. Each one gets this long, and the call's budget is
# extended by as much; after the branch the menu gets a whole call budget again.
PROMPT_SECONDS = 90.0
# The recorded prompts (prompts/id/) played when the alert's own audio is not there.
GENERIC_ANNOUNCEMENT = "surge-announcement"
GENERIC_INFORMATION = "surge-information"
THANKS = "surge-thanks"
# What the call's record says (calls.route_reason; calls.category for the information).
INFORMATION_OUTCOME = INFORMATION_ONLY             # heard the information, then left
INFORMATION_OPERATOR = "surge-information-operator"  # then pressed 0: a call-taker


class SurgeView(Protocol):
    """The alerts domain's surge mode (ntpd_ivr/alerts/plugin.py SURGE)."""

    def current(self) -> SurgeMode | None: ...


def covered_regions(mode: SurgeMode, routing: RoutingConfig) -> frozenset[str] | None:
    """The regions whose callers hear the announcement: the alert's region and the centers
    it overflows to (the province center answers for its regencies); None: every region
    (the mode names no region, or one this routing config does not know)."""
    if not mode.region or mode.region not in routing.regions:
        return None
    covered: list[str] = []
    key = mode.region
    while key and key in routing.regions and key not in covered:  # bounded: no repeats
        covered.append(key)
        key = routing.regions[key].overflow_to
    return frozenset(covered)


def surge_applies(mode: SurgeMode | None, region: str, routing: RoutingConfig) -> bool:
    if mode is None:
        return False
    covered = covered_regions(mode, routing)
    return covered is None or region in covered


def about_alert_priority(routing: RoutingConfig) -> int:
    """QUEUE_PRIO of a caller "about the alert" who still wants a call-taker: below every
    category, so that every other caller is answered first (app_queue: higher first)."""
    return max(0, min(c.priority for c in routing.categories.values()) - 1)


def surge_priority(decision: Decision, routing: RoutingConfig,
                   about_alert: bool) -> tuple[Decision, dict[str, Any]]:
    """The decision while surge mode is on, and what to record of it. A caller about the
    alert is queued behind every category; any other caller keeps their category's priority
    (the prank policy's too), which is above that, unless a category's priority is 0."""
    if not about_alert:
        return decision, {"priority": decision.priority, "about_alert": False}
    priority = about_alert_priority(routing)
    return (dataclasses.replace(decision, priority=priority, reason=INFORMATION_OPERATOR),
            {"category_priority": decision.priority, "priority": priority,
             "about_alert": True})


def announcement_choice(digit: str) -> str:
    """What a key pressed during (or just after) the announcement means: "information"
    (key 8), "menu" (no key: the menu plays) or "menu-key" (the menu's own key)."""
    if digit == INFORMATION_KEY:
        return "information"
    return "menu-key" if digit else "menu"


# ---- the alert's audio ------------------------------------------------------------------

Render = Callable[[str, Path], None]  # text -> WAV file (ntpd_ivr/speech.py render_text)


class SurgeAudio:
    """The alert's announcement and information as prompt files in `media_dir`/surge (the
    controller's path), named as Asterisk sees them under `asterisk_media_dir`. One render
    per text, in a thread; callers wait for it at most `wait_seconds`, then get None (the
    generic prompt) while the render goes on for the next callers."""

    def __init__(self, media_dir: str, asterisk_media_dir: str, render: Render,
                 wait_seconds: float = SYNTH_WAIT_SECONDS) -> None:
        self.media_dir = Path(media_dir) / "surge" if media_dir else None
        self.asterisk_dir = asterisk_media_dir.rstrip("/") + "/surge"
        self.render = render
        self.wait_seconds = wait_seconds
        self._renders: dict[str, asyncio.Task[None]] = {}

    def _name(self, mode: SurgeMode, which: str, text: str) -> str:
        digest = hashlib.sha256(f"{which}|{text}".encode()).hexdigest()[:16]
        return f"alert-{mode.alert_id}-{which}-{digest}"

    def _render(self, text: str, out: Path) -> None:
        assert self.media_dir is not None
        # The media folder (as a campaign's audio does) and our own in it, but never the
        # folders above: without them (nothing installed there) the render fails and the
        # generic prompt plays.
        self.media_dir.parent.mkdir(exist_ok=True)
        self.media_dir.mkdir(exist_ok=True)
        partial = out.with_name(out.stem + ".part.wav")
        self.render(text, partial)
        partial.chmod(0o644)
        os.replace(partial, out)  # Asterisk never plays half a file

    def prepare(self, mode: SurgeMode | None) -> None:
        """Start rendering the mode's texts (surge mode just went on): the first caller
        then finds them ready."""
        if mode is None or self.media_dir is None:
            return
        for which, text in (("announcement", mode.announcement),
                            ("information", mode.information)):
            self._start(self._name(mode, which, text), text)

    def _start(self, name: str, text: str) -> asyncio.Task[None] | None:
        assert self.media_dir is not None
        out = self.media_dir / f"{name}.wav"
        if out.exists():
            return None
        task = self._renders.get(name)
        if task is None or (task.done() and (task.cancelled() or task.exception())):
            task = asyncio.create_task(asyncio.to_thread(self._render, text, out),
                                       name=f"surge-audio-{name}")
            task.add_done_callback(_log_failure)
            self._renders[name] = task
        return task

    async def prompt(self, mode: SurgeMode, which: str) -> str | None:
        """The Asterisk name (no extension) of the mode's `which` ("announcement" or
        "information") audio, or None: not ready in time, failed, or nowhere to put it."""
        if self.media_dir is None:
            return None
        text = mode.announcement if which == "announcement" else mode.information
        name = self._name(mode, which, text)
        task = self._start(name, text)
        if task is not None:
            # asyncio.wait, not wait_for: a caller's timeout must not cancel the render.
            done, _ = await asyncio.wait({task}, timeout=self.wait_seconds)
            if not done or task.cancelled() or task.exception() is not None:
                return None
        return f"{self.asterisk_dir}/{name}"

    async def close(self) -> None:
        for task in self._renders.values():
            task.cancel()
        await asyncio.gather(*self._renders.values(), return_exceptions=True)
        self._renders.clear()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("surge audio %s not made (the generic prompt plays): %s",
                  task.get_name(), task.exception())
