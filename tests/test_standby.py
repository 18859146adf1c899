"""Active and standby on one store: the standby waits logged out, says so,
takes over when the active dies, and the store ends equal to the ledger; the
simulator never sees two sessions of the fill user at once."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    ledger_rows,
    run_cli_here,
    stored_rows,
    wait_until,
    write_config,
)

OWNED = {"11111", "22222", "33333", "44444"}


def _config(tmp_path: Path, sim: SimProc, name: str) -> Path:
    path = daemon_config(tmp_path, sim).rename(tmp_path / f"{name}.toml")
    text = path.read_text() + "[standby]\nenabled = true\ntakeover_seconds = 0.5\n" \
        "check_seconds = 0.2\n"
    path.write_text(text)
    return path


def _seen(proc: Proc, event: str) -> bool:
    return bool(proc.events(event))


def _overlaps(sim: SimProc) -> int:
    return (sim.stdout + sim.stderr).count("sim.session.overlap")


def test_the_standby_waits_logged_out_then_takes_over_from_a_sigkilled_active(
        tmp_path: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    sim = start_sim("--rate", "2000", "--max-fills", "20000", "--seed", "5")
    db = tmp_path / "fills.db"
    active = start_daemon(_config(tmp_path, sim, "a"), name="active")
    wait_until(lambda: _seen(active, "feed.subscribed"), 30, "the active to subscribe")
    standby = start_daemon(_config(tmp_path, sim, "b"), name="standby")
    wait_until(lambda: _seen(standby, "standby.waiting"), 30, "the standby to wait")
    waiting = standby.events("standby.waiting")[0]
    assert f"pid {active.popen.pid} on host " in waiting["holder"]
    assert not _seen(standby, "feed.connecting")  # logged out while it waits

    status = json.loads(run_cli_here(tmp_path / "b.toml", "status", "--json").stdout)
    (daemon,) = status["daemons"]
    assert daemon["running"]
    assert daemon["pid"] == str(active.popen.pid)
    assert daemon["host"]
    wait_until(lambda: json.loads(run_cli_here(tmp_path / "b.toml", "status", "--json").stdout
                                  )["daemons"][0]["standby"] is not None,
               15, "status to show the standby")

    wait_until(lambda: len(stored_rows(db)) > 2000, 30, "the active to capture")
    active.popen.kill()  # SIGKILL mid-stream
    assert active.wait() == -signal.SIGKILL
    at_kill = len(stored_rows(db))
    wait_until(lambda: _seen(standby, "feed.subscribed"), 30, "the standby to take over")
    assert _seen(standby, "standby.taking_over")

    wait_until(lambda: len(sim.ledger()) == 20000, 60, "the simulator to finish")
    expected = ledger_rows(sim.ledger(), OWNED)
    wait_until(lambda: len(stored_rows(db)) >= len(expected), 60, "all owned fills stored")
    time.sleep(0.5)
    stored = stored_rows(db)
    keys = Counter(row[:5] for row in stored)
    print(f"ledger={len(sim.ledger())} owned={len(expected)} at_kill={at_kill} "
          f"stored={len(stored)}")
    assert at_kill < len(expected)
    assert max(keys.values()) == 1
    assert sorted(stored, key=repr) == sorted(expected, key=repr)
    assert _overlaps(sim) == 0
    standby.signal(signal.SIGTERM)
    assert standby.wait(30) == 0


def test_a_waiting_standby_stops_at_once_on_sigterm(
        tmp_path: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    sim = start_sim("--rate", "50")
    active = start_daemon(_config(tmp_path, sim, "a"), name="active")
    wait_until(lambda: _seen(active, "feed.subscribed"), 30, "the active to subscribe")
    standby = start_daemon(_config(tmp_path, sim, "b"), name="standby")
    wait_until(lambda: _seen(standby, "standby.waiting"), 30, "the standby to wait")
    started = time.monotonic()
    standby.signal(signal.SIGTERM)
    assert standby.wait(10) == 0
    assert time.monotonic() - started < 5
    assert active.popen.poll() is None
    assert not _seen(standby, "feed.connecting")
    # The active shuts down cleanly; then nothing waits and the lease is free.
    active.signal(signal.SIGTERM)
    assert active.wait(30) == 0
    third = start_daemon(_config(tmp_path, sim, "c"), name="third")
    wait_until(lambda: _seen(third, "feed.subscribed"), 30, "a daemon on the free lease")
    assert not _seen(third, "standby.waiting")
    assert _overlaps(sim) == 0


def test_the_simulator_counts_two_sessions_of_the_fill_user_at_once(
        tmp_path: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    """What the tests above count: two daemons on two stores both log in."""
    sim = start_sim("--rate", "50")
    first = start_daemon(_config(tmp_path, sim, "a"), name="first")
    other = _config(tmp_path, sim, "b")
    other.write_text(other.read_text().replace(str(tmp_path / "fills.db"),
                                               str(tmp_path / "other.db")))
    second = start_daemon(other, name="second")
    wait_until(lambda: _seen(first, "feed.subscribed") and _seen(second, "feed.subscribed"),
               30, "both daemons to log in")
    wait_until(lambda: _overlaps(sim) >= 1, 10, "the simulator to see the overlap")


@pytest.mark.parametrize(("body", "expected"), [
    ({"takeover_seconds": -1}, "standby.takeover_seconds"),
    ({"check_seconds": 0}, "standby.check_seconds"),
    ({"takeover_seconds": 1.5, "check_seconds": 1}, "at least twice check_seconds"),
])
def test_standby_settings_are_checked(tmp_path: Path, body: dict[str, float],
                                      expected: str) -> None:
    path = write_config(tmp_path / "bad.toml", {"standby": body})
    result = run_cli_here(path, "config", "check")
    assert result.returncode == 2
    assert expected in result.stderr
