"""sd_notify over a real unix datagram socket, and /metrics' figures from the controller's
state (the call tracker driven by real AMI event types)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ntpd_ivr.ami.events import AgentConnect, AmiEvent, Newchannel, QueueCallerJoin
from ntpd_ivr.calls.tracker import CallTracker
from ntpd_ivr.ops.metrics import Metrics, MetricSources
from ntpd_ivr.ops.sdnotify import SdNotifier


def newchannel(uniqueid: str, at: float) -> AmiEvent:
    return Newchannel(name="Newchannel", received_at=at, timestamp=at, uniqueid=uniqueid,
                      linkedid=uniqueid, channel="PJSIP/operator-local-00000000",
                      caller_number="0811", context="from-operator", exten="112")


def join(uniqueid: str, at: float) -> AmiEvent:
    return QueueCallerJoin(name="QueueCallerJoin", received_at=at, timestamp=at,
                           uniqueid=uniqueid, queue="takers-palembang", position=1,
                           caller_number="0811")


def agent_connect(uniqueid: str, at: float) -> AmiEvent:
    return AgentConnect(name="AgentConnect", received_at=at, timestamp=at, uniqueid=uniqueid,
                        queue="takers-palembang", interface="PJSIP/taker-1",
                        member_name="taker-1", hold_time=7, ring_time=0,
                        dest_uniqueid=uniqueid + "1")


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    yield sock, path
    sock.close()


def test_ready_and_stopping_reach_the_socket(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, path = systemd_socket
    notifier = SdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.ready("FastAGI on port 4573")
    assert sock.recv(4096) == b"READY=1\nSTATUS=FastAGI on port 4573"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


async def test_watchdog_pings_from_the_event_loop(
        systemd_socket: tuple[socket.socket, str]) -> None:
    sock, path = systemd_socket
    notifier = SdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000",
                           "WATCHDOG_PID": str(os.getpid())})
    assert notifier.watchdog_seconds == 0.1
    notifier.start_watchdog()
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    pings = [await asyncio.wait_for(loop.sock_recv(sock, 64), 2.0) for _ in range(3)]
    await notifier.stop()
    assert pings == [b"WATCHDOG=1"] * 3


def test_not_under_systemd_or_another_pids_watchdog() -> None:
    assert not SdNotifier({}).ready()
    other = SdNotifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000",
                        "WATCHDOG_PID": "1"})
    assert other.watchdog_seconds is None
    assert not other.notify("READY=1")  # no such socket: a warning, never an exception


def test_metrics_from_state_and_one_observation_per_answer() -> None:
    metrics = Metrics()
    tracker = CallTracker(on_answer=metrics.observe_answer)
    now = 1_000_000.0
    for event in (newchannel("c1", now), join("c1", now + 2), agent_connect("c1", now + 9),
                  newchannel("c2", now + 3), join("c2", now + 4), newchannel("c3", now + 5)):
        tracker.apply(event)
    metrics.add_sources(MetricSources(
        live_counts=tracker.live_counts, agi=lambda: (2, 40),
        ami={"connected": True, "logins": 3}.copy,
        records={"pending": 7}.copy,
        loop={"lag_ms_p50": 1.5, "lag_ms_p99": 20.0, "lag_ms_max": None}.copy,
        feed={"pending": 4}.copy, clock=lambda: now + 14,
        live={"sockets": 5, "sockets_dropped": 2, "messages_dropped": 70,
              "coalesced": 9}.copy))
    text = metrics.render().decode()
    for line in ('ntpd_calls{state="ivr"} 1.0', 'ntpd_calls{state="queued"} 1.0',
                 'ntpd_calls{state="talking"} 1.0', 'ntpd_queue_oldest_wait_seconds{queue="'
                 'takers-palembang"} 10.0', "ntpd_fastagi_active_sessions 2.0",
                 "ntpd_fastagi_sessions_total 40.0", "ntpd_ami_reconnects_total 2.0",
                 "ntpd_spool_pending 7.0", 'ntpd_event_loop_lag_seconds{stat="p99"} 0.02',
                 "ntpd_feed_pending 4.0", 'ntpd_answer_seconds_bucket{le="10.0"} 1.0',
                 'ntpd_answer_seconds_bucket{le="5.0"} 0.0', "ntpd_answer_seconds_sum 9.0",
                 "ntpd_queue_wait_seconds_sum 7.0", "ntpd_live_sockets 5.0",
                 "ntpd_live_sockets_dropped_total 2.0", "ntpd_live_messages_dropped_total 70.0",
                 "ntpd_live_states_coalesced_total 9.0"):
        assert line in text, line
    assert 'stat="max"' not in text  # no sample yet: no value rather than a made-up 0
