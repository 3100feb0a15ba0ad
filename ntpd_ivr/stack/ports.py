"""Free loopback ports for local components and tests."""

from __future__ import annotations

import random
import socket

from ntpd_ivr.errors import StackError

# Not a port the kernel picked: that one comes from the ephemeral range
# (net.ipv4.ip_local_port_range, 32768-60999 on Debian), which the kernel hands out again
# to any client socket once the probe is closed. A stand-in that binds it seconds later
# (SIPp at a call-taker's contact) then fails, and the queue rings nobody. Below that
# range, and above Asterisk's RTP ports (asterisk-conf/rtp.conf: 10000-20000).
PORT_RANGE = (20100, 32700)
_handed_out: set[int] = set()  # this process's stacks never get one port twice


def _bindable(port: int, sock_type: int) -> bool:
    with socket.socket(socket.AF_INET, sock_type) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(kind: str = "tcp") -> int:
    """A port on 127.0.0.1, free for TCP and UDP a moment ago, outside the kernel's
    ephemeral range. `kind` is kept for the callers that say what they will bind."""
    del kind  # both protocols are checked: a stack binds some ports for both
    low, high = PORT_RANGE
    for _ in range(500):
        port = random.randint(low, high)
        if port in _handed_out:
            continue
        if _bindable(port, socket.SOCK_STREAM) and _bindable(port, socket.SOCK_DGRAM):
            _handed_out.add(port)
            return port
    raise StackError(f"no free loopback port in {low}-{high}")
