"""The dispatch state machine, table by table (pure: no database, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ntpd_ivr.dispatch.model import (
    EVENTS,
    FINAL,
    TRANSITIONS,
    DispatchEvent,
    DispatchMode,
    DispatchState,
    InvalidTransition,
)
from ntpd_ivr.incidents.model import kecamatan_key

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def run(mode: DispatchMode, events: list[DispatchEvent]) -> DispatchState:
    state = DispatchState.start(mode, T0)
    for n, event in enumerate(events, 1):
        state = state.advance(event, T0 + timedelta(seconds=10 * n))
    return state


@pytest.mark.parametrize(("mode", "events", "status", "times"), [
    # "Connect": the trunk is dialled (primary, then backup), answers, the agency presses 1.
    ("connect", [], "dialing", {}),
    ("connect", ["attempt", "attempt", "answer", "accept"], "accepted",
     {"answered_at": 30, "accepted_at": 40}),
    ("connect", ["attempt", "answer", "refuse"], "refused", {"refused_at": 30}),
    ("connect", ["attempt", "attempt", "time_out"], "timed-out", {"timed_out_at": 30}),
    ("connect", ["attempt", "answer", "time_out"], "timed-out", {"answered_at": 20}),
    # "Notify": acknowledged on the agency's screen, then the officers' progress.
    ("notify", [], "notified", {}),
    ("notify", ["accept", "on_the_way", "on_scene", "resolve"], "resolved",
     {"accepted_at": 10, "on_the_way_at": 20, "on_scene_at": 30, "resolved_at": 40}),
    ("notify", ["accept", "on_scene"], "on-scene", {"on_scene_at": 20}),  # no "on the way"
    ("notify", ["accept", "resolve"], "resolved", {"resolved_at": 20}),
    ("notify", ["refuse"], "refused", {"refused_at": 10}),
    ("notify", ["time_out"], "timed-out", {"timed_out_at": 10}),
    ("notify", ["cancel"], "cancelled", {"cancelled_at": 10}),
    ("connect", ["attempt", "answer", "accept", "cancel"], "cancelled", {"cancelled_at": 40}),
])
def test_transitions(mode: DispatchMode, events: list[DispatchEvent], status: str,
                     times: dict[str, int]) -> None:
    state = run(mode, events)
    assert state.status == status
    for column, seconds in times.items():
        assert getattr(state, column) == T0 + timedelta(seconds=seconds), column
    assert state.attempts == events.count("attempt")
    assert state.final is (status in FINAL)


@pytest.mark.parametrize(("mode", "events", "refused"), [
    ("notify", [], "answer"),              # a screen acknowledgement has no trunk to answer
    ("notify", [], "attempt"),
    ("connect", [], "accept"),             # key 1 comes after the answer
    ("connect", ["attempt"], "on_scene"),
    ("notify", [], "on_the_way"),          # not before it is accepted
    ("notify", ["accept"], "accept"),      # twice
    ("notify", ["accept"], "refuse"),      # accepted is accepted
    ("notify", ["accept", "on_scene"], "on_the_way"),  # no going back
    ("notify", ["refuse"], "accept"),      # final states stay final
    ("notify", ["accept", "resolve"], "cancel"),
    ("notify", ["cancel"], "accept"),
    ("connect", ["attempt", "time_out"], "answer"),
])
def test_refused_transitions_leave_the_state_alone(mode: DispatchMode,
                                                   events: list[DispatchEvent],
                                                   refused: DispatchEvent) -> None:
    before = run(mode, events)
    with pytest.raises(InvalidTransition, match=f"cannot {refused.replace('_', ' ')}"):
        before.advance(refused, T0 + timedelta(hours=1))
    assert run(mode, events) == before


def test_every_event_has_a_transition_and_final_states_have_no_way_out() -> None:
    assert set(TRANSITIONS) == set(EVENTS)
    for sources, _target, _column in TRANSITIONS.values():
        assert not sources & FINAL


def test_a_step_before_the_dispatch_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="before the dispatch"):
        DispatchState.start("notify", T0).advance("accept", T0 - timedelta(seconds=1))


def test_unknown_mode_and_event() -> None:
    with pytest.raises(ValueError, match="dispatch mode"):
        DispatchState.start("fax", T0)  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition, match="no dispatch event"):
        DispatchState.start("notify", T0).advance("teleport", T0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("a", "b"), [("Ilir Barat I", "ilir  barat i"),
                                      (" Sekayu", "SEKAYU ")])
def test_kecamatan_spellings_match(a: str, b: str) -> None:
    assert kecamatan_key(a) == kecamatan_key(b)
