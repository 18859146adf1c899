"""systemd's notification protocol: readiness, status line, watchdog, stopping.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET``, an AF_UNIX datagram
socket (a path, or an abstract name when it starts with ``@``); the service
sends it newline-separated ``KEY=VALUE`` lines, one datagram per message. That
is all ``sd_notify(3)`` does, so it is written here in a few lines rather than
taken from a library that would wrap ``libsystemd``.

What the daemon says and when:

- ``READY=1`` once, when T4 first accepts the subscription: only then are
  fills being captured, so only then is the service "active".
- ``STATUS=`` one line on each change of the session, shown by ``systemctl
  status``.
- ``WATCHDOG=1`` every half ``$WATCHDOG_USEC``, from a task on the event
  loop: if the loop stalls, the pings stop and systemd restarts the service.
- ``STOPPING=1`` when the daemon begins to stop, however it stops.

Without ``$NOTIFY_SOCKET`` (not run by systemd) every call does nothing. A
failing socket is logged once and never stops the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from fillcapture.feedstatus import FeedStatus

log = structlog.get_logger(__name__)


class Notifier:
    """Tells systemd how the daemon is doing; inert when systemd did not ask.

    ``environ`` defaults to the process environment.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_interval(env) if self.address else None
        self._socket: socket.socket | None = None
        self._failed = False
        self._ready = False
        self._stopping = False
        self._status: str | None = None

    def on_status(self, status: FeedStatus) -> None:
        """A :class:`~fillcapture.feedstatus.StatusBoard` listener: the status line,
        readiness, stopping."""
        lines = []
        if status.state == "subscribed" and not self._ready:
            self._ready = True
            lines.append("READY=1")
        text = describe(status)
        if text != self._status:
            self._status = text
            lines.append(f"STATUS={text}")
        if status.state == "stopping" and not self._stopping:
            self._stopping = True
            lines.append("STOPPING=1")
        if lines:
            self.send(*lines)

    def stopping(self) -> None:
        """``STOPPING=1``, once: the daemon is on its way out."""
        if not self._stopping:
            self._stopping = True
            self.send("STOPPING=1")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Ping the watchdog while the body runs; ``STOPPING=1`` when it ends."""
        watchdog = asyncio.create_task(self._watchdog(), name="systemd-watchdog")
        try:
            yield
        finally:
            self.stopping()
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _watchdog(self) -> None:
        """Ping at half the watchdog timeout, as ``sd_watchdog_enabled(3)`` advises:
        one late ping is tolerated, a loop blocked for the whole timeout is not."""
        if self.watchdog_interval is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_interval)

    def send(self, *lines: str) -> None:
        """One datagram of ``KEY=VALUE`` lines; never blocks, never raises."""
        if self.address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # A full receive queue must not stall the event loop: drop instead.
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning("systemd.notify_failed", socket=os.fsdecode(self.address),
                            error=str(exc))


def describe(status: FeedStatus) -> str:
    """The session in one line, for ``systemctl status``."""
    since = _clock(status.since)
    who = f"{status.username or '?'} at {status.firm or '?'}"
    visible = f"{len(status.visible)} account{'' if len(status.visible) == 1 else 's'} visible"
    reason = " ".join((status.reason or "no reason given").split())
    match status.state:
        case "starting":
            return f"starting since {since}"
        case "connected":
            return f"logged in to T4 as {who} since {since}, subscribing, {visible}"
        case "subscribed":
            return f"subscribed to T4 as {who} since {since}, {visible}"
        case "disconnected":
            return f"disconnected since {since}: {reason}"
        case "stopping":
            return f"stopping since {since}: storing the fills received"
        case "stopped":
            return f"stopped since {since}"


def _clock(moment: datetime) -> str:
    """``15:04:05Z`` today, with the date on any other day (a long outage)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%H:%M:%SZ" if utc.date() == datetime.now(UTC).date()
                        else "%Y-%m-%d %H:%M:%SZ")


def _address(value: str) -> bytes | None:
    """``$NOTIFY_SOCKET`` as a socket address: a path, or ``@name`` for the
    abstract namespace (a leading NUL byte). Anything else is not ours to use."""
    if value.startswith("/"):
        return os.fsencode(value)
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])
    if value:
        log.warning("systemd.notify_socket_unsupported", notify_socket=value)
    return None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between pings, or None when systemd wants none from this process:
    ``$WATCHDOG_PID``, when set, names the process the watchdog is meant for."""
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2 / 1e6 if usec > 0 else None
