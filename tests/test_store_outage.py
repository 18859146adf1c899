"""A running daemon whose store's disk fills up, or turns read-only, waits it out.

The store lives on a real tmpfs of a few MB; a filler file takes its last
byte while a real daemon captures from the real simulator. The daemon must
log the outage once per interval (not per retry), keep running, end its feed
session (a gap), and resume by itself once the space is back; the stored rows
then equal the simulator's ledger of owned fills: nothing lost, nothing twice.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Proc, SimProc, daemon_config, ledger_rows, stored_rows, wait_until
from tests.scrape import metrics_port, scrape, value
from tests.smallfs import fill_up, remount, tmpfs

OWNED = {"11111", "22222", "33333", "44444"}
FILLS = 3000
LOG_SECONDS = 2.0


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Path]:
    # Room for the store and its WAL, which grows to ~40 MB between checkpoints.
    with tmpfs(tmp_path / "small", "64m") as mounted:
        yield mounted


def _start(tmp_path: Path, small: Path, start_sim: Callable[..., SimProc],
           start_daemon: Callable[..., Proc]) -> tuple[SimProc, Proc, Path]:
    sim = start_sim("--rate", "250", "--max-fills", str(FILLS), "--seed", "11",
                    "--trade-date", "2026-11-23")
    config = daemon_config(tmp_path, sim)
    db = small / "fills.db"
    text = config.read_text().replace(str(tmp_path / "fills.db"), str(db))
    config.write_text(text.replace("[store]\n", f"[store]\noutage_log_seconds = {LOG_SECONDS}\n"))
    daemon = start_daemon(config)
    wait_until(lambda: len(stored_rows(db)) > 100, 30, "capture to begin")
    return sim, daemon, db


def _outage_begins(daemon: Proc, small: Path) -> Path:
    filler = fill_up(small)
    wait_until(lambda: bool(daemon.events("store.unavailable")), 30,
               "the daemon to meet the full disk")
    return filler


def _holds_on(daemon: Proc, seconds: float) -> None:
    """The outage lasts ``seconds``: the daemon runs on, logging once per interval."""
    began = time.monotonic()
    time.sleep(seconds)
    assert daemon.popen.poll() is None, daemon.stderr[-3000:]
    errors = [e for e in daemon.events("store.unavailable")
              + daemon.events("store.still_unavailable")]
    attempts = max(e.get("attempts", 1) for e in errors)
    elapsed = time.monotonic() - began
    assert len(daemon.events("store.unavailable")) == 1
    # One error per interval, however often it retried.
    assert len(errors) <= elapsed / LOG_SECONDS + 2, errors
    assert attempts > len(errors), errors
    assert not [line for line in daemon.stderr.splitlines() if "Traceback" in line]


def _resumes_and_matches(sim: SimProc, daemon: Proc, db: Path, tmp_path: Path) -> None:
    wait_until(lambda: bool(daemon.events("store.available")), 30, "the store to be back")
    down, errors = _outage_metrics(tmp_path)
    assert down == 0
    # Every failed attempt counted: at least as many as the outage's logs say.
    assert errors >= max(e.get("attempts", 1) for e in daemon.events("store.still_unavailable")
                         + daemon.events("store.unavailable"))
    wait_until(lambda: len(sim.ledger()) >= FILLS, 60, "the simulator to finish")
    expected = sorted(ledger_rows(sim.ledger(), OWNED))

    def equal() -> bool:
        return sorted(stored_rows(db)) == expected

    wait_until(equal, 60, "the store to equal the ledger")
    assert daemon.popen.poll() is None
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        gaps = conn.execute("SELECT reason, ended_at FROM gaps").fetchall()
    assert any(reason.startswith("store unavailable") and ended is not None
               for reason, ended in gaps), gaps
    daemon.stop()
    assert daemon.popen.returncode == 0, daemon.stderr[-3000:]


def _outage_metrics(tmp_path: Path) -> tuple[float, float]:
    """(fillcapture_store_outage, fillcapture_store_errors_total) now."""
    found = scrape(metrics_port(tmp_path / "fillcapture.toml"))
    return value(found, "fillcapture_store_outage"), value(found, "fillcapture_store_errors_total")


def test_a_full_disk_pauses_capture_and_it_resumes_with_nothing_lost(
        tmp_path: Path, small: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    sim, daemon, db = _start(tmp_path, small, start_sim, start_daemon)
    assert _outage_metrics(tmp_path) == (0, 0)
    filler = _outage_begins(daemon, small)
    _holds_on(daemon, 3 * LOG_SECONDS)
    down, errors = _outage_metrics(tmp_path)
    assert down == 1
    assert errors >= 2  # each retry that failed
    filler.unlink()
    _resumes_and_matches(sim, daemon, db, tmp_path)


def _remount_ro(small: Path) -> None:
    """Read-only, once the daemon has let go of its store files (it drops its
    connection in an outage and reopens it on each retry: retry on EBUSY)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            remount(small, readonly=True)
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_read_only_store_pauses_capture_and_it_resumes_with_nothing_lost(
        tmp_path: Path, small: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    sim, daemon, db = _start(tmp_path, small, start_sim, start_daemon)
    filler = _outage_begins(daemon, small)
    _remount_ro(small)
    try:
        wait_until(lambda: any("read-only" in e["error"]
                               for e in daemon.events("store.still_unavailable")),
                   20, "the daemon to meet the read-only store")
        _holds_on(daemon, LOG_SECONDS)
        assert _outage_metrics(tmp_path)[0] == 1
    finally:
        remount(small, readonly=False)
    filler.unlink()
    _resumes_and_matches(sim, daemon, db, tmp_path)
