"""What a wall is sent after its first whole state: only what changed (wall_changes), and
the contract wall.js keeps to draw its lists again from its calls."""

from __future__ import annotations

import copy
from typing import Any

from ntpd_ivr.wall.model import call_key, wall_changes


def call(uniqueid: str, state: str, since: float, queue: str = "", **more: Any
         ) -> dict[str, Any]:
    return {"uniqueid": uniqueid, "caller_number": "+6281100" + uniqueid[-3:],
            "state": state, "since": since, "arrived_at": 100.0, "queue": queue,
            "taker": "", **more}


def whole(calls: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    """A whole state as WallState.to_json() lays its calls out, plus the other keys."""
    ordered = sorted(calls, key=lambda c: (c["since"], c["uniqueid"]))
    queues: dict[str, list[dict[str, Any]]] = {}
    for c in ordered:
        if c["state"] == "queue":
            queues.setdefault(c["queue"], []).append(c)
    return {"now": 200.0, "as_of": 199.0, "targets": {"answered_within_10s_pct": 90},
            "figures": {"offered": 3}, "takers": [], **more,
            "ivr": [c for c in ordered if c["state"] == "ivr"],
            "queues": dict(sorted(queues.items())),
            "talking": [c for c in ordered if c["state"] == "talking"]}


def applied(before: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """What wall.js does with a "changes" frame (applyChanges, listCalls)."""
    state = copy.deepcopy(before)
    calls = {call_key(c): c for c in [*state["ivr"], *state["talking"],
                                      *(c for q in state["queues"].values() for c in q)]}
    for key, value in changes.items():
        if key not in ("calls", "gone"):
            state[key] = value
    for key in changes["gone"]:
        del calls[key]
    for c in changes["calls"]:
        calls[call_key(c)] = c
    rebuilt = whole(list(calls.values()))
    return {**state, **{key: rebuilt[key] for key in ("ivr", "queues", "talking")}}


BEFORE = whole([call("1.001", "ivr", 110.0), call("1.002", "queue", 111.0, "takers-plg"),
                call("1.003", "talking", 112.0, "takers-plg", taker="taker-1")])


def test_only_the_calls_that_changed_and_the_keys_that_changed_are_sent() -> None:
    after = whole([call("1.001", "queue", 115.0, "takers-muba"),        # moved on
                   call("1.003", "talking", 112.0, "takers-plg", taker="taker-1"),  # as it was
                   call("1.004", "ivr", 116.0)],                        # new; 1.002 ended
                  now=201.0, as_of=200.5, figures={"offered": 4})
    changes = wall_changes(BEFORE, after)
    assert changes == {
        "now": 201.0, "as_of": 200.5, "figures": {"offered": 4},  # not targets, not takers
        "calls": [call("1.004", "ivr", 116.0), call("1.001", "queue", 115.0, "takers-muba")],
        "gone": ["/1.002"],
    }
    assert applied(BEFORE, changes) == after


def test_nothing_changed_sends_no_call() -> None:
    assert wall_changes(BEFORE, copy.deepcopy(BEFORE)) == {"calls": [], "gone": []}


def test_a_new_key_is_sent_and_the_same_uniqueid_on_two_nodes_is_two_calls() -> None:
    before = whole([call("1.001", "ivr", 110.0, node="node-a")])
    after = whole([call("1.001", "ivr", 110.0, node="node-a"),
                   call("1.001", "talking", 111.0, node="node-b", taker="taker-2")],
                  nodes=[{"name": "node-b", "connected": True}])
    changes = wall_changes(before, after)
    assert changes == {"nodes": [{"name": "node-b", "connected": True}],
                       "calls": [call("1.001", "talking", 111.0, node="node-b",
                                      taker="taker-2")],
                       "gone": []}
    assert applied(before, changes) == after
