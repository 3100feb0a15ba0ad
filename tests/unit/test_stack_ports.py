"""free_port: outside the kernel's ephemeral range, never the same port twice."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ntpd_ivr.stack import ports
from ntpd_ivr.stack.ports import PORT_RANGE, free_port


def test_ports_are_outside_the_ephemeral_range_distinct_and_bindable() -> None:
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port("udp" if n % 2 else "tcp") for n in range(50)]
    assert len(set(ports)) == 50
    assert all(PORT_RANGE[0] <= p <= PORT_RANGE[1] < ephemeral_low for p in ports)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        udp.bind(("127.0.0.1", ports[0]))
        tcp.bind(("127.0.0.1", ports[0]))


def test_a_port_in_use_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        spare = PORT_RANGE[0] + 7
        picks = iter([taken, taken, spare])
        monkeypatch.setattr(ports.random, "randint", lambda low, high: next(picks))
        monkeypatch.setattr(ports, "_handed_out", set())
        assert free_port("udp") == spare
