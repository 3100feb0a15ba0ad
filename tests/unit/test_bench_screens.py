"""The screens bench's own pieces (ntpd_ivr/bench/screens.py) and the floor's FastAGI
server (ntpd_ivr/bench/floor.py), without a stack: `make bench-screens` and `make bench`
run them for real."""

from __future__ import annotations

import asyncio

import pytest

from ntpd_ivr.bench import floor
from ntpd_ivr.bench.screens import _frame, first_seen_latencies, rounds_modes


def test_each_call_state_is_timed_once_from_its_event_and_only_after_subscribing() -> None:
    seen: set[tuple[str, str]] = set()
    frame = {"data": {"ivr": [{"uniqueid": "1", "state": "ivr", "since": 100.0},
                              {"uniqueid": "0", "state": "ivr", "since": 90.0}],
                      "queues": {"q": [{"uniqueid": "2", "state": "queue", "since": 100.5}]},
                      "talking": []}}
    assert first_seen_latencies(frame, 101.0, 95.0, seen) == pytest.approx([1000.0, 500.0])
    # The same states again: nothing new; a new state of a known call: timed.
    frame["data"]["talking"] = [{"uniqueid": "1", "state": "talking", "since": 100.9}]
    assert first_seen_latencies(frame, 101.2, 95.0, seen) == pytest.approx([300.0])
    # A "changes" frame carries only the calls that changed.
    changes = {"kind": "changes", "data": {"calls": [
        {"uniqueid": "2", "state": "talking", "since": 101.0},
        {"uniqueid": "3", "state": "ivr", "since": 101.1}], "gone": ["/1"]}}
    assert first_seen_latencies(changes, 101.5, 95.0, seen) == pytest.approx([500.0, 400.0])


def test_off_and_on_alternate_which_runs_first() -> None:
    assert list(rounds_modes(3)) == [(0, "off"), (0, "on"), (1, "on"), (1, "off"),
                                     (2, "off"), (2, "on")]


def test_the_slow_clients_frame_is_masked_text() -> None:
    frame = _frame('{"id": 1}')
    assert frame[0] == 0x81 and frame[1] == 0x80 | 9
    mask = frame[2:6]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(frame[6:])) == b'{"id": 1}'


@pytest.mark.parametrize(("digit", "expected"), [
    ("1", "NTPD_DIGIT=1,NTPD_CATEGORY=ambulance,NTPD_ROUTE_REASON=menu,QUEUE_PRIO=10,"),
    ("", "NTPD_DIGIT=,NTPD_CATEGORY=unclassified,NTPD_ROUTE_REASON=no-input,QUEUE_PRIO=5,"),
    ("0", "NTPD_CATEGORY=unclassified,NTPD_ROUTE_REASON=operator-requested,"),
    ("7", "NTPD_CATEGORY=unclassified,NTPD_ROUTE_REASON=invalid-input,"),
])
def test_the_floor_sets_what_the_bench_menu_sets(digit: str, expected: str) -> None:
    text = floor.variables(digit, "takers-default")
    assert expected in text and text.endswith(",NTPD_QUEUE=takers-default")


async def test_the_floor_answers_a_session_as_asterisk_drives_it() -> None:
    server = await asyncio.start_server(floor.session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"agi_network: yes\nagi_network_script: floor-ivr\nagi_uniqueid: 1.1\n"
                     b"agi_arg_1: /prompts/id/menu\nagi_arg_2: 3000\n"
                     b"agi_arg_3: takers-default\n\n")
        assert await reader.readline() == b"GET DATA /prompts/id/menu 3000 1\n"
        writer.write(b"200 result=50\n")  # '2'
        command = (await reader.readline()).decode()
        assert command.startswith('EXEC MSet "NTPD_DIGIT=2,NTPD_CATEGORY=fire,')
        assert command.rstrip().endswith('NTPD_QUEUE=takers-default"')
        writer.write(b"200 result=0\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the session ends
        writer.close()
