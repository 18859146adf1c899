"""systemd notification: the datagrams on a real AF_UNIX socket, and a real daemon
process speaking the protocol to a socket the test owns, as systemd would."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from fillcapture.feedstatus import FeedState, FeedStatus
from fillcapture.systemd import Notifier
from tests.conftest import Proc, SimProc, clean_env, daemon_config, stored_rows, wait_until


class Listener:
    """The service manager's end: a datagram socket, and what arrived on it when."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.received: list[tuple[float, str]] = []

    def drain(self, seconds: float = 0.0) -> list[str]:
        """Whatever arrives within ``seconds`` (at least what is queued now)."""
        deadline = time.monotonic() + seconds
        messages = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining > 0:
                self.sock.settimeout(remaining)
            else:
                self.sock.setblocking(False)
            try:
                data = self.sock.recv(4096)
            except (BlockingIOError, TimeoutError):
                return messages
            self.received.append((time.monotonic(), data.decode()))
            messages.append(data.decode())

    def wait_for(self, line: str, timeout: float) -> str:
        """The first message with ``line`` among its lines, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.drain(0.1):
                if line in message.split("\n"):
                    return message
        raise AssertionError(f"no {line!r} within {timeout}s: {self.received}")

    def lines(self, prefix: str) -> list[str]:
        return [line for _, message in self.received for line in message.split("\n")
                if line.startswith(prefix)]


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    listening = Listener(str(tmp_path / "notify"))
    yield listening
    listening.sock.close()


NOW = datetime.now(UTC).replace(microsecond=0)


def _status(state: FeedState, *, at: datetime = NOW, visible: int = 4,
            reason: str | None = None) -> FeedStatus:
    return FeedStatus(state, at, firm="SIMFIRM", username="WhenTechFillUser",
                      visible=frozenset(str(n) for n in range(visible)), reason=reason)


def test_a_session_told_as_datagrams(tmp_path: Path, listener: Listener) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    later = NOW + timedelta(seconds=5)
    for status in (
        _status("connected"),
        _status("subscribed"),
        _status("subscribed", visible=5),   # a Risk Manager's accounts arriving
        _status("subscribed", visible=5),   # no change, nothing to say
        _status("disconnected", at=later, reason="connection closed\nby peer"),
        _status("connected", at=later),
        _status("subscribed", at=later),    # ready once, not at every subscription
        _status("stopping", at=later),
        _status("stopped", at=later),
    ):
        notifier.on_status(status)
    # A moment of another day than today's (UTC) is told with its date: the
    # module may have been imported, or this test run, across midnight.
    today = datetime.now(UTC).date()
    clock, clock_later = (moment.strftime("%H:%M:%SZ" if moment.date() == today
                                          else "%Y-%m-%d %H:%M:%SZ") for moment in (NOW, later))
    assert listener.drain() == [
        f"STATUS=logged in to T4 as WhenTechFillUser at SIMFIRM since {clock}, subscribing, "
        "4 accounts visible",
        "READY=1\n"
        f"STATUS=subscribed to T4 as WhenTechFillUser at SIMFIRM since {clock}, "
        "4 accounts visible",
        f"STATUS=subscribed to T4 as WhenTechFillUser at SIMFIRM since {clock}, "
        "5 accounts visible",
        f"STATUS=disconnected since {clock_later}: connection closed by peer",
        f"STATUS=logged in to T4 as WhenTechFillUser at SIMFIRM since {clock_later}, "
        "subscribing, 4 accounts visible",
        f"STATUS=subscribed to T4 as WhenTechFillUser at SIMFIRM since {clock_later}, "
        "4 accounts visible",
        f"STATUS=stopping since {clock_later}: storing the fills received\nSTOPPING=1",
        f"STATUS=stopped since {clock_later}",
    ]


def test_an_outage_of_days_shows_its_date(tmp_path: Path, listener: Listener) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    notifier.on_status(_status("disconnected", at=datetime(2026, 3, 6, 22, 0, tzinfo=UTC),
                               reason="T4 closed the connection"))
    assert listener.drain() == [
        "STATUS=disconnected since 2026-03-06 22:00:00Z: T4 closed the connection"]


def test_abstract_socket() -> None:
    name = f"fillcapture-test-{secrets.token_hex(8)}"
    listening = Listener(b"\0" + name.encode())
    try:
        Notifier({"NOTIFY_SOCKET": f"@{name}"}).send("READY=1", "STATUS=ok")
        assert listening.drain(1.0) == ["READY=1\nSTATUS=ok"]
    finally:
        listening.sock.close()


def test_watchdog_wanted_only_by_systemd_for_this_process(tmp_path: Path) -> None:
    notify = str(tmp_path / "notify")
    ours, other = str(os.getpid()), str(os.getpid() + 1)
    assert Notifier({"NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "400000"}
                    ).watchdog_interval == 0.2
    assert Notifier({"NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "400000",
                     "WATCHDOG_PID": ours}).watchdog_interval == 0.2
    assert Notifier({"NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "400000",
                     "WATCHDOG_PID": other}).watchdog_interval is None
    assert Notifier({"NOTIFY_SOCKET": notify}).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "400000"}).watchdog_interval is None
    assert Notifier({}).address is None


def test_a_failing_socket_is_logged_once_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    notifier = Notifier({"NOTIFY_SOCKET": str(path)})
    with capture_logs() as logs:
        for _ in range(3):
            notifier.send("WATCHDOG=1")  # nobody listens yet
    assert [e["event"] for e in logs] == ["systemd.notify_failed"]
    listening = Listener(str(path))
    try:
        notifier.send("WATCHDOG=1")
        assert listening.drain(1.0) == ["WATCHDOG=1"]
    finally:
        listening.sock.close()


async def test_a_blocked_event_loop_stops_the_pings(tmp_path: Path,
                                                    listener: Listener) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "100000"})
    async with notifier.running():
        await asyncio.sleep(0.3)
        assert listener.drain().count("WATCHDOG=1") >= 4
        time.sleep(0.5)  # noqa: ASYNC251 - the stall under test
        assert listener.drain() == []
        await asyncio.sleep(0.3)
        assert listener.drain().count("WATCHDOG=1") >= 4
    assert listener.drain() == ["STOPPING=1"]


def test_daemon_speaks_to_systemd(
    tmp_path: Path, listener: Listener, start_sim: Callable[..., SimProc],
    start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "50")
    env = clean_env(NOTIFY_SOCKET=str(tmp_path / "notify"), WATCHDOG_USEC="400000")
    daemon = start_daemon(daemon_config(tmp_path, sim), env=env)

    ready = listener.wait_for("READY=1", timeout=20)
    assert "STATUS=subscribed to T4 as WhenTechFillUser at SIMFIRM since " in ready
    wait_until(lambda: len(stored_rows(tmp_path / "fills.db")) > 0, 20, "fills to be stored")

    pings = listener.drain(1.5).count("WATCHDOG=1")
    print(f"{pings} watchdog pings in 1.5 s at WATCHDOG_USEC=400000")
    assert pings >= 5

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    listener.drain()
    assert listener.lines("READY=") == ["READY=1"]
    assert listener.lines("STOPPING=") == ["STOPPING=1"]
    statuses = [line.split(" since ")[0] for line in listener.lines("STATUS=")]
    assert statuses == [
        "STATUS=logged in to T4 as WhenTechFillUser at SIMFIRM",
        "STATUS=subscribed to T4 as WhenTechFillUser at SIMFIRM",
        "STATUS=stopping",
        "STATUS=stopped",
    ]
