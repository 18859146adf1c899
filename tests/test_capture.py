"""End to end: a real simulator process, a real daemon process, a real SQLite file."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    ledger_rows,
    stored_count,
    stored_rows,
    wait_until,
)

OWNED = {"11111", "22222", "33333", "44444"}


def _events(proc: Proc) -> list[dict[str, object]]:
    events = []
    for line in proc.stderr.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def test_risk_manager_mode_drops_unowned_account(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "2000", "--max-fills", "3000", "--seed", "7")
    daemon = start_daemon(daemon_config(tmp_path, sim, subscribe_all=True))
    db = tmp_path / "fills.db"

    wait_until(lambda: len(sim.ledger()) == 3000, 30, "the simulator to finish")
    expected = ledger_rows(sim.ledger(), OWNED)
    wait_until(lambda: len(stored_rows(db)) >= len(expected), 30, "all owned fills stored")
    time.sleep(0.5)  # anything extra would land now

    stored = stored_rows(db)
    unowned = [f for f in sim.ledger() if f.account == "55555"]
    print(f"ledger={len(sim.ledger())} owned={len(expected)} unowned={len(unowned)} "
          f"stored={len(stored)}")
    assert unowned, "the simulator must have traded the unowned account"
    assert not [row for row in stored if row[1] == "55555"]
    assert sorted(stored, key=repr) == sorted(expected, key=repr)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


def test_sigkill_mid_stream_then_restart_ends_with_exact_ledger(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
    engine_store_url: str,
) -> None:
    sim = start_sim("--rate", "3000", "--max-fills", "24000", "--seed", "11")
    config = daemon_config(tmp_path, sim, store_url=engine_store_url)
    db = engine_store_url

    first = start_daemon(config, name="daemon1")
    wait_until(lambda: stored_count(db) > 2000, 30, "the first daemon to capture")
    first.popen.kill()  # SIGKILL: no drain, no goodbye
    assert first.wait() == -signal.SIGKILL
    at_kill = stored_count(db)
    time.sleep(1.5)  # the market goes on while the daemon is down

    second = start_daemon(config, name="daemon2")
    wait_until(lambda: len(sim.ledger()) == 24000, 60, "the simulator to finish")
    expected = ledger_rows(sim.ledger(), OWNED)
    wait_until(lambda: stored_count(db) >= len(expected), 60, "all owned fills stored")
    time.sleep(0.5)

    stored = stored_rows(db)
    keys = Counter(row[:5] for row in stored)
    print(f"ledger={len(sim.ledger())} owned={len(expected)} stored_at_kill={at_kill} "
          f"stored={len(stored)} duplicate_keys={sum(c - 1 for c in keys.values())}")
    assert at_kill < len(expected)
    assert max(keys.values()) == 1
    assert sorted(stored, key=repr) == sorted(expected, key=repr)
    second.signal(signal.SIGTERM)
    assert second.wait() == 0


def test_wrong_password_exits_3_after_one_attempt(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "0")
    daemon = start_daemon(daemon_config(tmp_path, sim, password="not-the-password"))
    assert daemon.wait(30) == 3
    events = [e["event"] for e in _events(daemon)]
    assert events.count("feed.connecting") == 1
    refused = [e for e in _events(daemon) if e["event"] == "feed.login_refused"]
    assert refused
    assert refused[0]["result"] == "LOGIN_RESULT_FAILED"
    assert "not-the-password" not in daemon.stderr + daemon.stdout


def test_registry_changes_apply_without_restart(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "400", "--seed", "3")
    config = daemon_config(tmp_path, sim, subscribe_all=False,
                           users=[{"name": "A", "accounts": ["11111"]}])
    db = tmp_path / "fills.db"
    start_daemon(config)
    wait_until(lambda: len(stored_rows(db)) > 20, 20, "user A's fills")
    assert {row[1] for row in stored_rows(db)} == {"11111"}

    added = Proc(["--config", str(config), "users", "add", "C", "--accounts", "33333"],
                 tmp_path, "add")
    assert added.wait() == 0
    added_at = time.monotonic()
    wait_until(lambda: any(row[1] == "33333" for row in stored_rows(db)), 10,
               "the newly owned account to be captured")
    print(f"new account captured {time.monotonic() - added_at:.2f}s after users add")

    removed = Proc(["--config", str(config), "users", "remove", "C"], tmp_path, "remove")
    assert removed.wait() == 0
    time.sleep(5)  # past the 5 s the daemon has to notice
    before = sum(1 for row in stored_rows(db) if row[1] == "33333")
    time.sleep(2)
    after = sum(1 for row in stored_rows(db) if row[1] == "33333")
    assert after == before
    assert sum(1 for f in sim.ledger() if f.account == "33333") > after


def test_owned_but_invisible_account_is_warned_at_login(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "0", "--visible", "11111,22222")
    config = daemon_config(tmp_path, sim, subscribe_all=False,
                           users=[{"name": "A", "accounts": ["11111", "22222"]},
                                  {"name": "B", "accounts": ["33333"]}])
    daemon = start_daemon(config)
    daemon.wait_for(r'"event": "ownership.account_invisible"', stream="stderr")
    warning = next(e for e in _events(daemon) if e["event"] == "ownership.account_invisible")
    assert warning["user"] == "B"
    assert warning["account"] == "33333"
    assert warning["level"] == "warning"


def test_sigterm_drains_and_exits_zero(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "5000", "--seed", "5")
    daemon = start_daemon(daemon_config(tmp_path, sim))
    db = tmp_path / "fills.db"
    wait_until(lambda: len(stored_rows(db)) > 1000, 20, "capture to start")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    stopped = next(e for e in _events(daemon) if e["event"] == "daemon.stopped")
    # Everything the daemon counted as captured is in the file.
    assert stopped["captured"] == len(stored_rows(db))
    assert (db.stat().st_mode & 0o777) == 0o600
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_firms_share_one_store_with_the_same_account_numbers(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    """Account numbers are unique only within a firm: each fill carries its firm."""
    sims = {
        firm: start_sim("--firm", firm, "--accounts", "11111,22222", "--rate", "1000",
                        "--max-fills", "1500", "--seed", str(seed), name=f"sim-{firm}")
        for seed, firm in ((1, "FIRM1"), (2, "FIRM2"))
    }
    users = [{"name": "A", "firm": "FIRM1", "accounts": ["11111"]},
             {"name": "B", "firm": "FIRM2", "accounts": ["11111", "22222"]}]
    for firm, sim in sims.items():
        (tmp_path / firm).mkdir()
        config = daemon_config(tmp_path / firm, sim, users=users, firm=firm)
        text = config.read_text().replace(str(tmp_path / firm / "fills.db"),
                                          str(tmp_path / "fills.db"))
        config.write_text(text)
        start_daemon(config, name=f"daemon-{firm}")
    db = tmp_path / "fills.db"
    wait_until(lambda: all(len(s.ledger()) == 1500 for s in sims.values()), 30, "both sims")
    expected = (ledger_rows(sims["FIRM1"].ledger(), {"11111"})
                + ledger_rows(sims["FIRM2"].ledger(), {"11111", "22222"}))
    wait_until(lambda: len(stored_rows(db)) >= len(expected), 30, "both firms stored")
    time.sleep(0.5)
    stored = stored_rows(db)
    print(f"firm1_owned={len(ledger_rows(sims['FIRM1'].ledger(), {'11111'}))} "
          f"firm2_owned={len(ledger_rows(sims['FIRM2'].ledger(), {'11111', '22222'}))} "
          f"stored={len(stored)}")
    assert sorted(stored, key=repr) == sorted(expected, key=repr)
    assert {row[0] for row in stored if row[1] == "11111"} == {"FIRM1", "FIRM2"}
