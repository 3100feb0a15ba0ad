"""Free loopback ports for local components and tests."""

from __future__ import annotations

import socket


def free_port(kind: str = "tcp") -> int:
    """A TCP (or "udp") port on 127.0.0.1 that was free a moment ago (the kernel picked it)."""
    sock_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, sock_type) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
