"""Free local TCP ports, for brokers and services started by the demo, tests and benchmarks."""

from __future__ import annotations

import socket

__all__ = ["free_port", "free_port_pair"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A free port whose successor is free too (a broker's client and controller ports)."""
    for _ in range(100):
        port = free_port(host)
        if port >= 65535:
            continue
        with socket.socket() as second:
            try:
                second.bind((host, port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports found")
