"""An outgoing transfer kept in its rows (ntpd_ivr/transfer/call.py with a TransferRows;
the real store is tests/integration/test_transfer_out_db.py): a database that fails
never holds the transfer, a resumed transfer is bounded in time, a reloaded desk reads the
call's transfer from memory first."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from ntpd_ivr import dialplan_contract as dp
from ntpd_ivr.transfer.outbound import Transfer
from tests.unit.test_dispatch_service import CALLER
from tests.unit.test_transfer_call import REFERENCE, Harness
from tests.waiting import eventually


class Rows:
    """TransferRows in a dict; `failing` makes every call raise, as a database that is
    down does (persist.py's bound ends in TimeoutError)."""

    def __init__(self, *kept: Transfer, failing: bool = False) -> None:
        self.kept = {t.reference: t for t in kept}
        self.saved: list[tuple[str, str | None, dict[str, Any]]] = []
        self.failing = failing

    def _check(self) -> None:
        if self.failing:
            raise TimeoutError("the database did not answer")

    async def save(self, transfer: Transfer, at: datetime, action: str | None = None,
                   detail: Mapping[str, Any] | None = None) -> None:
        self._check()
        self.kept[transfer.reference] = transfer
        self.saved.append((transfer.state, action, dict(detail or {})))

    async def get(self, reference: str) -> Transfer | None:
        self._check()
        return self.kept.get(reference)

    async def in_progress(self, now: datetime) -> list[Transfer]:
        self._check()
        return [t for t in self.kept.values() if not t.final]

    async def of_call(self, uniqueid: str) -> Transfer | None:
        self._check()
        return next((t for t in self.kept.values() if t.caller == uniqueid), None)


def harness(rows: Rows, **kwargs: Any) -> Harness:
    h = Harness(**kwargs)
    h.caller.rows = rows
    return h


async def test_each_state_is_one_row_write_with_its_audit_entry() -> None:
    rows = Rows()
    h = harness(rows)
    h.answer(await h.start())
    h.key("refuse")
    await h.until("ringing", "answered", "failed")
    assert [(s, a) for s, a, _ in rows.saved] == [
        ("ringing", "transfer.ringing"), ("answered", "transfer.answered"),
        ("failed", "transfer.failed")]
    assert rows.saved[-1][2]["reason"] == "refused" and rows.saved[-1][2]["call"] == CALLER
    assert h.audit.entries == []  # in the row's transaction, not apart


async def test_a_database_down_never_holds_the_transfer(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    h = harness(Rows(failing=True))
    h.answer(await h.start())
    h.key("accept")
    await h.until("ringing", "answered", "accepted")
    assert len(h.asterisk.named("Redirect")) == 2  # the caller joined all the same
    assert h.kinds() == ["transfer.ringing", "transfer.answered", "transfer.accepted"]
    assert "row and audit entry transfer.accepted not written" in caplog.text
    # A reloaded desk still sees it, from memory.
    found = await h.caller.of_call(CALLER)
    assert found is not None and found["state"] == "accepted"
    assert await h.caller.of_call("another") is None  # the database cannot say: none


async def test_a_resumed_transfer_finishes_with_its_incident_and_call_taker() -> None:
    rows = Rows(Transfer(REFERENCE, 7, "banyuasin", "Banyuasin", CALLER, "ani",
                         state="answered"))
    h = harness(rows)
    assert await h.caller.resume() == 1
    h.key("accept")
    await h.until("accepted")
    assert h.desk[-1][2] == "ani" and h.steps[-1].detail["incident"] == 7
    assert rows.saved[-1][1:] == ("transfer.accepted", rows.saved[-1][2])
    assert rows.kept[REFERENCE].taker_channel == "PJSIP/taker-1-02"


async def test_a_resumed_transfer_that_never_keys_times_out() -> None:
    rows = Rows(Transfer(REFERENCE, 7, "banyuasin", "B", CALLER, "ani", state="ringing"))
    h = harness(rows, accept_seconds=0, grace_seconds=0.05)
    h.caller.ring_seconds = 0
    assert await h.caller.resume() == 1
    await h.until("failed")
    assert h.states() == [("failed", "timeout")]
    await h.caller.stop()


async def test_a_start_with_the_database_down_resumes_nothing_and_looks_up_later() -> None:
    rows = Rows(Transfer(REFERENCE, 7, "banyuasin", "B", CALLER, "ani", state="answered"),
                failing=True)
    h = harness(rows)
    assert await h.caller.resume() == 0
    rows.failing = False  # back before the key: the key finds it by its reference
    h.key("accept")
    await h.until("accepted")
    assert h.desk[-1][2] == "ani"


async def test_a_key_for_a_transfer_ended_before_the_restart_moves_nobody() -> None:
    rows = Rows(Transfer(REFERENCE, 7, "banyuasin", "B", CALLER, "ani", state="failed",
                         reason="timeout"))
    h = harness(rows)
    h.key("accept")
    await eventually(lambda: h.asterisk.named("Redirect"), "the late leg sent away")
    assert [r["Exten"] for r in h.asterisk.named("Redirect")] == [dp.EXTEN_TRANSFER_CALLER_GONE]
    await asyncio.sleep(0.05)
    assert h.steps == [] and rows.saved == []
