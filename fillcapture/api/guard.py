"""Limits on the API's connections: what uvicorn's HTTP/1.1 protocol lacks.

uvicorn holds every accepted connection until its client closes it: one that
never sends, or sends its headers a byte at a time, holds a file descriptor
and a slot forever, and its ``limit_concurrency`` counts such connections
against real requests (answering those 503). The protocol here adds:

- a connection limit: at ``max_connections`` open, a new connection closes
  the oldest one that is not in a request (idle, or its headers still
  arriving), so the newest client, the one most likely about to send a
  whole request, is served; with every connection in a request the new one
  is closed instead;
- a header deadline: a request's headers must be complete within
  ``header_timeout`` seconds of the connection's start or of the previous
  response, however slowly they trickle in.

Idle keep-alive is uvicorn's own ``timeout_keep_alive``. Bursts of refusals
(closed connections, failed ``accept()`` at the file limit) are logged by
:class:`RateLimitedLog`, one line per interval with a count, never a line or
a traceback each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

log = structlog.get_logger(__name__)

ACCEPT_FAILED = "socket.accept() out of system resource"
"""The message of asyncio's loop exception handler call when ``accept()`` fails
for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM)."""


class RateLimitedLog:
    """An event that may repeat thousands of times a second, logged at most
    once per ``interval`` seconds: the first occurrence at once, then one line
    per interval saying how many occurred (``count``) since the last line."""

    def __init__(self, event: str, interval: float) -> None:
        self.event = event
        self.interval = interval
        self.pending = 0
        self.fields: dict[str, Any] = {}
        self.timer: asyncio.TimerHandle | None = None

    def __call__(self, **fields: Any) -> None:
        self.fields = fields
        self.pending += 1
        if self.timer is None:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            self.timer = None
            return
        log.warning(self.event, count=self.pending, interval=self.interval, **self.fields)
        self.pending = 0
        self.timer = asyncio.get_running_loop().call_later(self.interval, self._flush)

    def close(self) -> None:
        """Log what is pending, and stop the timer."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending:
            log.warning(self.event, count=self.pending, interval=self.interval, **self.fields)
            self.pending = 0


@dataclass(frozen=True)
class Limits:
    max_connections: int
    header_timeout: float


def guarded_protocol(limits: Limits, shed: RateLimitedLog) -> type[H11Protocol]:
    """uvicorn's h11 protocol with ``limits``; ``shed`` logs the connections
    closed to make room or refused for want of it."""
    opened: dict[H11Protocol, None] = {}  # open connections, oldest first

    class Guarded(H11Protocol):
        refused = False
        deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            if len(opened) >= limits.max_connections:
                victim = next((c for c in opened if _between_requests(c)), None)
                shed(reason="max_connections", max_connections=limits.max_connections)
                if victim is None:
                    self.refused = True
                    transport.abort()
                    return
                del opened[victim]
                victim.transport.abort()
            opened[self] = None
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.refused:
                return
            opened.pop(self, None)
            self._disarm()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.deadline = self.loop.call_later(limits.header_timeout, self._expire)

        def _disarm(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def _expire(self) -> None:
            self.deadline = None
            if _between_requests(self) and not self.transport.is_closing():
                self.transport.close()

    return Guarded


def _between_requests(connection: H11Protocol) -> bool:
    """Whether no request of ``connection`` is being answered: its headers
    still arriving, or idle after a response."""
    return connection.cycle is None or connection.cycle.response_complete


@contextlib.contextmanager
def quiet_accept_errors(loop: asyncio.AbstractEventLoop, failed: RateLimitedLog) -> Iterator[None]:
    """While inside, ``accept()`` failures that asyncio reports to the loop's
    exception handler (one traceback each, thousands a second at the file
    limit) go to ``failed`` instead; anything else to the handler as before."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == ACCEPT_FAILED:
            failed(error=str(context.get("exception")))
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
    try:
        yield
    finally:
        loop.set_exception_handler(previous)
