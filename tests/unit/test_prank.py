"""The prank policy, table by table: strikes, windows and expiry, the level of a call, the
queue priority order, the config and its errors, silent-call signals, the strike view."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ntpd_ivr.ami.events import AgentConnect, ChannelTalkingStart, Hangup, QueueCallerJoin
from ntpd_ivr.errors import ConfigError
from ntpd_ivr.prank.config import PrankPolicy
from ntpd_ivr.prank.model import PolicyAction
from ntpd_ivr.prank.policy import (
    Standing,
    decide,
    queue_priority,
    standing_of,
)
from ntpd_ivr.prank.service import PrankService
from ntpd_ivr.prank.signals import CallSignals, judge
from ntpd_ivr.prank.view import StrikeView
from ntpd_ivr.routing.config import UNCLASSIFIED, Category, RoutingConfig, parse_routing_config

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
POLICY = PrankPolicy(window_hours=24, warn_at=2, deprioritise_at=3, block_at=4, block_hours=6)


def ago(*hours: float) -> list[datetime]:
    return [NOW - h * H for h in hours]


@pytest.mark.parametrize(("strikes", "expected"), [
    ([], Standing(0, None)),
    (ago(1), Standing(1, None)),
    (ago(1, 2, 30), Standing(2, None)),                 # one outside the 24 h window
    (ago(1, 2, 3, 4), Standing(4, NOW - H + 6 * H)),    # 4th strike 1 h ago: blocked 5 h more
    (ago(7, 8, 9, 10), Standing(4, None)),              # the block (6 h) has expired
    (ago(3, 10, 11, 12), Standing(4, NOW + 3 * H)),
    (ago(20, 21, 22, 23), Standing(4, None)),           # blocked at -20 h, until -14 h
    (ago(1, 2, 3, 30), Standing(3, None)),              # never 4 within one window
    ([NOW + H], Standing(0, None)),                     # a strike from the future: ignored
    (ago(30, 31, 32, 33), Standing(0, None)),           # all expired
], ids=["none", "one", "window", "blocked", "block-expired", "block-running", "block-over",
        "spread", "future", "expired"])
def test_standing_counts_the_window_and_blocks_expire(strikes: list[datetime],
                                                      expected: Standing) -> None:
    assert standing_of(strikes, POLICY, NOW) == expected


BLOCK = NOW + H


@pytest.mark.parametrize(("standing", "kwargs", "policy", "level", "reason", "escape"), [
    (Standing(0), {}, POLICY, "none", "strike-free", False),
    (None, {}, POLICY, "none", "view-unavailable", False),
    (Standing(9, BLOCK), {}, replace(POLICY, enabled=False), "none", "policy-off", False),
    (Standing(9, BLOCK), {"exempt": True}, POLICY, "none", "exempt-number", False),
    (Standing(1), {}, POLICY, "struck", "strikes", False),
    (Standing(2), {}, POLICY, "warn", "strikes", False),
    (Standing(3), {}, POLICY, "deprioritise", "strikes", False),
    (Standing(4, BLOCK), {}, POLICY, "block", "strikes", True),
    (Standing(4, BLOCK), {}, replace(POLICY, escape=False), "block", "strikes", False),
    (Standing(4, None), {}, POLICY, "deprioritise", "strikes", False),  # block over
    (Standing(4, BLOCK), {"legacy": True}, POLICY, "deprioritise", "legacy-number", False),
    (Standing(2), {"legacy": True}, POLICY, "struck", "legacy-number", False),
], ids=["strike-free", "unavailable", "off", "exempt", "struck", "warn", "deprioritise",
        "block", "block-no-escape", "block-expired", "legacy-never-blocked",
        "legacy-never-warned"])
def test_the_level_of_a_call(standing: Standing | None, kwargs: dict[str, bool],
                             policy: PrankPolicy, level: str, reason: str,
                             escape: bool) -> None:
    action = decide(standing, policy, **kwargs)
    assert (action.level, action.reason, action.escape) == (level, reason, escape)


CATEGORIES = {"ambulance": Category("ambulance", 10, True), "sar": Category("sar", 9, True),
              "police": Category("police", 8), UNCLASSIFIED: Category(UNCLASSIFIED, 5)}
U = CATEGORIES[UNCLASSIFIED].priority


def prio(category: str, level: str) -> int:
    action = PolicyAction(level, "strikes", 1)
    return queue_priority(CATEGORIES[category], U, action, POLICY)[0]


@pytest.mark.parametrize(("category", "level", "expected"), [
    ("ambulance", "none", 10), ("sar", "none", 9), ("police", "none", 8),
    (UNCLASSIFIED, "none", 5),
    ("ambulance", "struck", 5), ("ambulance", "deprioritise", 5), ("ambulance", "block", 5),
    ("police", "struck", 4), ("police", "warn", 4), (UNCLASSIFIED, "warn", 4),
    ("police", "deprioritise", 1), (UNCLASSIFIED, "block", 1),
])
def test_queue_priority_table(category: str, level: str, expected: int) -> None:
    assert prio(category, level) == expected


STRUCK = ("struck", "warn", "deprioritise", "block")


def test_priority_order_favours_genuine_emergencies() -> None:
    urgent = [c for c in CATEGORIES.values() if c.life_threatening]
    for category in CATEGORIES:
        for level in STRUCK:
            # Strike-free callers are ahead of callers with strikes (ties only where a
            # struck life-threatening caller meets strike-free unclassified ones).
            assert prio(category, "none") >= prio(category, level)
            if not CATEGORIES[category].life_threatening:
                assert prio(UNCLASSIFIED, "none") > prio(category, level)
        # Life-threatening first among the strike-free.
        for other in CATEGORIES.values():
            if not other.life_threatening:
                assert all(prio(c.name, "none") > prio(other.name, "none") for c in urgent)
    for cat in urgent:
        for level in STRUCK:
            # Not pushed below strike-free unclassified callers, whatever the strikes.
            assert prio(cat.name, level) >= prio(UNCLASSIFIED, "none")
            assert all(prio(cat.name, level) > prio(c, lv) for c in ("police", UNCLASSIFIED)
                       for lv in STRUCK)


BASE = """
default_region = "a"
[categories.ambulance]
priority = 10
life_threatening = true
[categories.unclassified]
priority = 5
[regions.a]
queue = "q-a"
[regions.b]
queue = "q-b"
"""


def config(extra: str = "", region_b: str = "") -> RoutingConfig:
    text = BASE + ("\n[prank]\n" + extra if extra else "")
    if region_b:
        text += "\n[regions.b.prank]\n" + region_b
    return parse_routing_config(text, "routing.toml")


def test_config_defaults_and_region_overrides() -> None:
    cfg = config("block_at = 6\nrefresh_seconds = 2", "block_at = 4\nescape_key = \"#\"")
    assert cfg.prank.policy("a").block_at == 6
    assert cfg.prank.policy("b") == replace(cfg.prank.policy("a"), block_at=4, escape_key="#")
    assert cfg.prank.refresh_seconds == 2
    assert config().prank.default == PrankPolicy()
    assert config().prank.warnings("routing.toml") == []


def test_config_check_warns_when_a_region_turns_the_escape_off() -> None:
    cfg = config(region_b="escape = false")
    assert cfg.prank.warnings("routing.toml") == [
        "routing.toml: regions.b.prank.escape: false: a blocked caller there cannot reach "
        "a call-taker, even in a real emergency"]


@pytest.mark.parametrize(("extra", "region_b", "message"), [
    ("warn_at = 4\ndeprioritise_at = 3", "", "routing.toml: prank.warn_at: need 1 <="),
    ("", "block_hours = 0", "routing.toml: regions.b.prank.block_hours: must be positive"),
    ("", "escape_key = \"x\"", "routing.toml: regions.b.prank.escape_key: one key"),
    ("deprioritised_priority = 4", "", "routing.toml: prank.deprioritised_priority: must be"),
    ("", "refresh_seconds = 1", "routing.toml: regions.b.prank.refresh_seconds: set in "
     "[prank] only"),
    ("", "blok_at = 1", "routing.toml: regions.b.prank.blok_at: unknown key"),
    ("exempt_numbers = [\"anonymous\"]", "", "routing.toml: prank.exempt_numbers: "),
    ("escape = \"yes\"", "", "routing.toml: prank.escape: expected bool"),
    ("refresh_seconds = 0", "", "routing.toml: prank.refresh_seconds: must be 0.2-3600"),
])
def test_config_errors_name_file_and_key(extra: str, region_b: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(extra, region_b)
    assert str(err.value).startswith(message), str(err.value)


def test_the_example_config_has_a_valid_policy() -> None:
    from ntpd_ivr.routing.config import load_routing_config
    from ntpd_ivr.stack.devstack import ROUTING_CONFIG

    prank = load_routing_config(ROUTING_CONFIG).prank
    assert prank.default.enabled and prank.default.escape and prank.default.block_at == 5


def signals(**kw: object) -> CallSignals:
    base = CallSignals("1.1", "+6281234567890", "a", 1000.0)
    for key, value in kw.items():
        setattr(base, key, value)
    return base


@pytest.mark.parametrize(("kw", "ended", "silent", "hangup"), [
    ({}, 1005.0, True, "in-ivr"),
    ({"dtmf": True}, 1005.0, False, "in-ivr"),
    ({"voice_ivr": True}, 1005.0, False, "in-ivr"),
    ({"queued_at": 1010.0}, 1040.0, False, "waiting"),   # gave up waiting: not counted
    ({"queued_at": 1010.0, "answered_at": 1020.0}, 1030.0, True, "after-answer"),
    ({"queued_at": 1010.0, "answered_at": 1020.0}, 1040.0, False, "after-answer"),
    ({"queued_at": 1010.0, "answered_at": 1020.0, "voice_waiting": True}, 1025.0, False,
     "after-answer"),
])
def test_silent_call_rule(kw: dict[str, object], ended: float, silent: bool,
                          hangup: str) -> None:
    verdict = judge(signals(**kw), ended, silent_after_answer_s=15)
    assert (verdict.silent, verdict.hangup) == (silent, hangup)


def test_voice_is_placed_in_the_ivr_or_the_wait_and_ignored_after_answer() -> None:
    s = signals()
    s.talking()
    assert (s.voice_ivr, s.voice_waiting) == (True, False)
    s = signals(queued_at=1.0)
    s.talking()
    assert (s.voice_ivr, s.voice_waiting) == (False, True)
    s = signals(queued_at=1.0, answered_at=2.0)
    s.talking()
    assert (s.voice_ivr, s.voice_waiting) == (False, False)


def test_view_is_unavailable_until_loaded_and_after_a_failed_refresh() -> None:
    view = StrikeView()
    assert view.times("+62811") is None
    view.replace({"+62811": [NOW]}, started_at=0.0)
    assert view.times("+62811") == [NOW] and view.times("+62822") == ()
    view.failed("db down")
    assert view.times("+62811") is None


def test_view_keeps_own_changes_over_a_refresh_that_missed_them() -> None:
    view = StrikeView()
    view.replace({}, started_at=0.0)
    pending = view.change("+62811", NOW)       # written in the background, not yet stored
    view.replace({}, started_at=1e12)          # a refresh that read before the write
    assert view.times("+62811") == [NOW]
    view.committed(pending)
    view.replace({"+62811": [NOW]}, started_at=1e12)  # now the database has it: once only
    assert view.times("+62811") == [NOW]
    view.change("+62811", None)                # cleared (a genuine call)
    assert view.times("+62811") == ()


def routing_with(policy: PrankPolicy) -> RoutingConfig:
    minimal = RoutingConfig.minimal("q")
    return replace(minimal, prank=replace(minimal.prank, default=policy))


async def test_service_faults_make_the_caller_strike_free() -> None:
    service = PrankService(None, lambda: routing_with(POLICY), clock=lambda: NOW)
    await service.start()
    try:
        assert service.state()["view"] == "unavailable"
        action = service.action_for("+6281234567890", "default", legacy=False)
        assert (action.level, action.reason) == ("none", "view-unavailable")
        assert service.action_for("withheld", "default", legacy=False).level == "none"
    finally:
        await service.stop()


T0 = NOW.timestamp() - 60


def _event(cls: type, **kw: object) -> object:
    return cls(name=cls.__name__, received_at=T0, timestamp=None, **kw)


async def test_service_follows_a_call_and_strikes_a_silent_one() -> None:
    service = PrankService(None, lambda: routing_with(POLICY), clock=lambda: NOW)
    service.view.replace({"+6281234567890": ago(2)}, started_at=0.0)
    caller = "+6281234567890"
    assert service.action_for(caller, "default", legacy=False).level == "struck"
    # A silent caller: queued, answered, ended 3 s later; no key, no voice.
    service.call_started("1.1", caller, "default")
    service.on_event(_event(QueueCallerJoin, uniqueid="1.1", queue="q", position=1,
                            caller_number=caller))  # type: ignore[arg-type]
    service.on_event(replace(_event(AgentConnect, uniqueid="1.1", queue="q",  # type: ignore
                                    interface="x", member_name="x", hold_time=1, ring_time=1,
                                    dest_uniqueid="2.2"), received_at=T0 + 1))
    service.on_event(replace(_event(Hangup, uniqueid="1.1", linkedid="1.1",  # type: ignore
                                    channel="c", cause=16, cause_txt=""), received_at=T0 + 4))
    assert service.action_for(caller, "default", legacy=False).level == "warn"
    # A caller who spoke in the menu is not silent.
    service.call_started("1.2", caller, "default")
    service.on_event(_event(ChannelTalkingStart, uniqueid="1.2", channel="c"))  # type: ignore
    service.on_event(_event(Hangup, uniqueid="1.2", linkedid="1.2", channel="c",  # type: ignore
                            cause=16, cause_txt=""))
    assert len(service.view.times(caller) or ()) == 2
    # A blocked call ends without a strike.
    service.call_started("1.3", caller, "default")
    service.call_blocked("1.3")
    service.on_event(_event(Hangup, uniqueid="1.3", linkedid="1.3", channel="c",  # type: ignore
                            cause=16, cause_txt=""))
    assert len(service.view.times(caller) or ()) == 2
    assert service.calls == {}
    await asyncio.sleep(0)
