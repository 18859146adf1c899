"""Loopback ports for the servers the tests start, one block per test worker.

Asking the kernel for a port (binding port 0) and handing the number to a
server started later leaves a window in which another process can be given
the same port: with two test workers (``make test``) it happened. So each
worker takes its ports from a block of its own below the kernel's ephemeral
range (which bind(0) and outgoing connections draw from), in turn, skipping
any port something is bound to now.
"""

from __future__ import annotations

import itertools
import os
import socket

FIRST = 20_000
"""The first port of worker 0's block; below Linux's ephemeral range (32768 on)."""

BLOCK = 1_500
"""Ports per worker: reused only after this many were handed out."""

HOST = "127.0.0.1"


def _worker() -> int:
    """This test process's number: 0, or N of pytest-xdist's ``gwN``."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


_START = FIRST + _worker() * BLOCK
_NEXT = itertools.cycle(range(_START, _START + BLOCK))


def free_port() -> int:
    """A loopback port of this worker's block that nothing is bound to now."""
    for _ in range(BLOCK):
        port = next(_NEXT)
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue  # in use, or still held by a socket that just closed
            return port
    raise RuntimeError(f"no free loopback port in {_START}-{_START + BLOCK - 1}")
