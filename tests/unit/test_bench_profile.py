"""Reading py-spy's raw output: idle waits left out, self and inclusive time per frame."""

from __future__ import annotations

from ntpd_ivr.bench.profile import read_raw

RUN = "run (asyncio/runners.py:190)"
AGI = "_run (ntpd_ivr/agi/server.py:146)"
RAW = "\n".join([
    f"{RUN};{AGI};get_data (ntpd_ivr/agi/channel.py:110);"
    "write (asyncio/selector_events.py:1057) 30",
    f"{RUN};{AGI};submit (ntpd_ivr/calls/keeper.py:102) 10",
    f"{RUN};_apply (ntpd_ivr/calls/store.py:150);executemany (asyncpg/connection.py:377) 60",
    "_bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:81) 500",
    "_bootstrap (threading.py:1002);_watch (ntpd_ivr/watchdog.py:52);"
    "Condition.wait (threading.py:331) 400",
    f"{RUN};EpollSelector.select (selectors.py:468) 300",
    "not a line",
])


def test_idle_waits_are_left_out_and_time_is_attributed() -> None:
    profile = read_raw(RAW)
    assert profile.samples == 100
    assert profile.self_time[0] == ("executemany (asyncpg/connection.py:377)", 60)
    inclusive = dict(profile.inclusive)
    assert inclusive["_run (ntpd_ivr/agi/server.py:146)"] == 40
    assert inclusive["_apply (ntpd_ivr/calls/store.py:150)"] == 60
    assert "_watch (ntpd_ivr/watchdog.py:52)" not in inclusive  # only ever idle
    lines = profile.lines(top=2)
    assert lines[2] == "   60.0%  executemany (asyncpg/connection.py:377)"
