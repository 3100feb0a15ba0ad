"""The callback list's rules (ntpd_ivr/callbacks/model.py): dedupe by number, outcomes,
the retry schedule, the figures; and the Originate the service sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.callbacks import model
from ntpd_ivr.callbacks.model import Abandoned, CallbackRow, OpenCallback, Policy
from ntpd_ivr.callbacks.service import Attempt, originate_action
from ntpd_ivr.settings import CallbackSettings

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
POLICY = Policy(dedupe=timedelta(minutes=10), max_attempts=3, retry=timedelta(minutes=5))
NUMBER = "+6281234567890"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def place(calls: list[tuple[str, float]]) -> list[int]:
    """Abandoned calls (number, minute) in order through `joins`: each one's callback id."""
    open_callbacks: dict[int, OpenCallback] = {}
    placed: list[int] = []
    for number, at in calls:
        call = Abandoned(f"u{len(placed)}", number, minutes(at))
        found = model.joins(call, open_callbacks.values(), POLICY)
        callback_id = found if found is not None else len(open_callbacks) + 1
        open_callbacks[callback_id] = OpenCallback(callback_id, number, call.at)
        placed.append(callback_id)
    return placed


@pytest.mark.parametrize(("calls", "callbacks"), [
    ([(NUMBER, 0), (NUMBER, 2), (NUMBER, 5)], [1, 1, 1]),  # three tries in 10 minutes: one
    ([(NUMBER, 0), (NUMBER, 10)], [1, 1]),  # exactly 10 minutes still joins
    ([(NUMBER, 0), (NUMBER, 11)], [1, 2]),  # later: a callback of its own
    ([(NUMBER, 0), (NUMBER, 8), (NUMBER, 16)], [1, 1, 1]),  # the window follows the last try
    ([(NUMBER, 0), ("+6281111111111", 1)], [1, 2]),  # another number
])
def test_abandoned_calls_of_one_number_within_10_minutes_make_one_callback(
        calls: list[tuple[str, float]], callbacks: list[int]) -> None:
    assert place(calls) == callbacks


@pytest.mark.parametrize(("number", "callable_"), [
    (NUMBER, True), ("withheld", False), ("unknown", False), ("invalid", False), ("", False),
    (None, False)])
def test_only_a_real_number_can_be_called_back(number: str | None, callable_: bool) -> None:
    assert model.callable_number(number) is callable_


@pytest.mark.parametrize(("status", "outcome"), [
    ("ANSWER", model.REACHED), ("BUSY", model.BUSY), ("NOANSWER", model.NO_ANSWER),
    ("CANCEL", model.NO_ANSWER), ("CONGESTION", model.NO_ANSWER),
    ("CHANUNAVAIL", model.NO_ANSWER), ("REFUSED", model.FAILED)])
def test_the_callers_dial_status_is_an_outcome(status: str, outcome: str) -> None:
    assert model.outcome_of(status) == outcome


# (status before, attempts before, outcome) -> (status, attempts, retry in minutes, closed)
@pytest.mark.parametrize(("before", "attempts", "outcome", "after"), [
    (model.WAITING, 0, model.REACHED, (model.REACHED, 1, None, True)),
    (model.WAITING, 0, model.NO_ANSWER, (model.NO_ANSWER, 1, 5, False)),
    (model.NO_ANSWER, 1, model.BUSY, (model.BUSY, 2, 5, False)),
    (model.BUSY, 2, model.NO_ANSWER, (model.FAILED, 3, None, True)),  # the third attempt
    (model.WAITING, 0, model.FAILED, (model.FAILED, 1, None, True)),
    # The call-taker did not pick up: the caller was not dialled, no attempt is spent.
    (model.WAITING, 0, model.TAKER_NO_ANSWER, (model.WAITING, 0, 5, False)),
    (model.BUSY, 2, model.TAKER_NO_ANSWER, (model.BUSY, 2, 5, False)),
])
def test_an_attempts_outcome_and_the_next_retry(before: str, attempts: int, outcome: str,
                                               after: tuple[str, int, int | None, bool]) -> None:
    now = minutes(30)
    got = model.after_attempt(before, attempts, outcome, now, POLICY)
    status, count, retry, closed = after
    assert (got.status, got.attempts, got.closed) == (status, count, closed)
    assert got.next_attempt_at == (None if retry is None else now + timedelta(minutes=retry))


def test_the_retry_schedule_follows_the_configured_attempts_and_delay() -> None:
    assert model.retry_schedule(T0, POLICY) == [minutes(0), minutes(5), minutes(10)]
    assert model.retry_schedule(T0, Policy(max_attempts=1)) == [T0]


def test_callback_figures_time_to_callback_and_share_reached() -> None:
    rows = [CallbackRow(model.REACHED, minutes(0), minutes(2)),
            CallbackRow(model.FAILED, minutes(0), minutes(4)),
            CallbackRow(model.NO_ANSWER, minutes(1), minutes(7)),
            CallbackRow(model.WAITING, minutes(3), None),
            CallbackRow(model.CLEARED, minutes(3), None)]
    got = model.figures(rows)
    assert got["callbacks"] == 5 and got["open"] == 2 and got["attempted"] == 3
    assert got["reached"] == 1 and got["cleared"] == 1
    assert got["reached_pct"] == 33.33
    assert got["average_abandon_to_callback_seconds"] == 240.0  # (120 + 240 + 360) / 3
    assert got["p90_abandon_to_callback_seconds"] == 360.0
    assert model.figures([])["reached_pct"] is None


def test_the_originate_rings_the_call_taker_then_runs_the_callback_context() -> None:
    settings = CallbackSettings(trunk="callback-line", taker_ring_seconds=20,
                                caller_ring_seconds=30)
    action = originate_action(Attempt(7, 70, NUMBER, "taker-1", model.WAITING, 0), settings)
    assert action["Channel"] == "PJSIP/taker-1" and action["Async"] == "true"
    assert (action["Context"], action["Exten"], action["Priority"]) == (dp.CONTEXT_CALLBACK,
                                                                        "s", "1")
    assert action["Timeout"] == "20000"
    variables = dict(pair.split("=", 1) for pair in action["Variable"].split(","))
    assert variables == {f"__{dp.VAR_CENTER_CALLBACK}": "1", dp.VAR_CALLBACK_ID: "7",
                         dp.VAR_CALLBACK_NUMBER: NUMBER, dp.VAR_CALLBACK_TRUNK: "callback-line",
                         dp.VAR_CALLBACK_RING: "30", dp.VAR_CALLBACK_PRIORITY: "1",
                         dp.VAR_CALLBACK_CALLER_ID: "112 <112>"}
    assert {name.lstrip("_") for name in variables} == dp.CALLBACK_ORIGINATE_VARIABLES
    quiet = originate_action(Attempt(7, 70, NUMBER, "taker-1", model.WAITING, 0),
                             CallbackSettings(trunk="x", priority_header=False))
    assert f"{dp.VAR_CALLBACK_PRIORITY}=0" in quiet["Variable"]
