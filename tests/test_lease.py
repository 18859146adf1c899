"""One daemon per store and firm: a second one exits 2 naming the first; the
lease dies with its holder, SIGKILL included; other firms share the store."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Proc, SimProc, daemon_config, stored_rows, wait_until


def _config(tmp_path: Path, sim: SimProc, name: str, **t4: str) -> Path:
    return daemon_config(tmp_path, sim, **t4).rename(tmp_path / f"{name}.toml")


def _subscribed(proc: Proc) -> bool:
    return any(json.loads(line).get("event") == "feed.subscribed"
               for line in proc.stderr.splitlines() if line.startswith("{"))


def test_a_second_daemon_on_one_store_and_firm_exits_2_naming_the_first(
        tmp_path: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    sim = start_sim("--rate", "50")
    first = start_daemon(_config(tmp_path, sim, "one"), name="first")
    wait_until(lambda: _subscribed(first), 30, "the first daemon to capture")
    second = start_daemon(_config(tmp_path, sim, "two"), name="second")
    assert second.wait(30) == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert f"pid {first.popen.pid} on host " in lines[0]
    assert str(tmp_path / "fills.db") in lines[0]
    assert "SIMFIRM" in lines[0]
    assert first.popen.poll() is None

    first.signal(signal.SIGKILL)
    first.wait()
    third = start_daemon(tmp_path / "two.toml", name="third")
    wait_until(lambda: _subscribed(third), 30, "a daemon after the SIGKILLed one")
    before = len(stored_rows(tmp_path / "fills.db"))
    wait_until(lambda: len(stored_rows(tmp_path / "fills.db")) > before, 30, "capture")


def test_two_firms_share_one_store(
        tmp_path: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    sim_a = start_sim("--rate", "50", name="sim_a")
    sim_b = start_sim("--rate", "50", "--firm", "OTHERFIRM", name="sim_b")
    a = start_daemon(_config(tmp_path, sim_a, "a"), name="a")
    b = start_daemon(_config(tmp_path, sim_b, "b", firm="OTHERFIRM"), name="b")
    db = tmp_path / "fills.db"
    wait_until(lambda: {row[0] for row in stored_rows(db)} == {"SIMFIRM", "OTHERFIRM"}, 30,
               "fills of both firms")
    assert a.popen.poll() is None, a.stderr[-2000:]
    assert b.popen.poll() is None, b.stderr[-2000:]
