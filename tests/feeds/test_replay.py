"""Recorded T4 frames replayed through the real t4 adapter into a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fillcapture.config import (
    ScheduleSettings,
    Settings,
    StoreSettings,
    T4Settings,
    UserSettings,
)
from fillcapture.daemon import Daemon
from fillcapture.feeds.recording import RecordingWriter, read_recording
from fillcapture.feeds.replay import ReplayFeed
from fillcapture.feeds.replay_server import ReplayServer
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.model import Connected, Disconnected, FillsReceived
from fillcapture.ownership import Entry, Ownership
from fillcapture.replaying import replay
from fillcapture.sim import read_ledger
from fillcapture.store import Owner, open_store
from tests.conftest import FIXTURES, clean_env, ledger_rows, stored_rows, write_config

OWNED = {"11111", "22222", "33333", "44444"}


async def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_recorded_frames_delivered_twice_store_once(tmp_path: Path) -> None:
    recording = FIXTURES / "normal_day.t4rec"
    ledger = read_ledger(FIXTURES / "normal_day.ledger.jsonl")
    expected = ledger_rows(ledger, OWNED)
    db = tmp_path / "fills.db"
    metrics = Metrics()
    async with ReplayServer.from_file(recording) as replay, \
            open_store(f"sqlite:///{db}") as store:
        settings = Settings(
            t4=T4Settings(url=replay.url, firm="SIMFIRM", username="WhenTechFillUser",
                          password="sim-password", app_license="x", subscribe_all=True,
                          reconnect_base=0.05, reconnect_cap=0.1),
            store=StoreSettings(url=f"sqlite:///{db}"),
            # No seal at start: the recording's trade date may be sealed by then.
            schedule=ScheduleSettings(enabled=False),
        )
        await store.seed_registry([Owner(u, None, a) for u, a in
                                   [("A", "11111"), ("A", "22222"),
                                    ("B", "33333"), ("B", "44444")]])
        daemon = Daemon(settings, store, metrics)
        await daemon.load_registry()
        runner = asyncio.create_task(
            daemon.run(T4Feed(settings.t4, lambda: daemon.ownership, metrics)))

        await _wait(lambda: metrics["fills.captured"] >= len(expected), 20)
        assert replay.finished == 1
        first = len(stored_rows(db))
        await replay.drop_connections()  # the adapter reconnects and gets it all again
        await _wait(lambda: replay.finished == 2, 20)
        delivered = sum(1 for _ in read_recording(recording))
        await _wait(lambda: metrics["fills.duplicate"] >= len(expected), 20)
        daemon.stop()
        await runner

    stored = stored_rows(db)
    print(f"frames={delivered} ledger={len(ledger)} owned={len(expected)} "
          f"stored_first={first} stored_after_second={len(stored)} "
          f"duplicates_absorbed={metrics['fills.duplicate']}")
    assert first == len(expected)
    assert sorted(stored, key=repr) == sorted(expected, key=repr)
    assert metrics["fills.dropped_unowned"] == 2 * sum(1 for f in ledger if f.account == "55555")


async def test_a_recording_is_a_feed_of_its_fills_that_ends() -> None:
    ledger = read_ledger(FIXTURES / "normal_day.ledger.jsonl")
    owners = Ownership(Entry("A", None, account) for account in OWNED)
    feed = ReplayFeed(FIXTURES / "normal_day.t4rec", T4Settings(), lambda: owners, Metrics())

    async with feed, asyncio.timeout(30):
        assert feed.t4.url == feed.server.url
        events = [event async for event in feed.events()]  # ends by itself

    fills = [fill for event in events if isinstance(event, FillsReceived)
             for fill in event.fills]
    print(f"events={len(events)} fills={len(fills)} ledger={len(ledger)}")
    assert isinstance(events[0], Connected)
    assert isinstance(events[-1], Disconnected)
    assert (feed.server.sessions, feed.server.finished) == (1, 1)
    # Every fill recorded, owned or not: the feed filters nothing.
    assert sorted((f.order_id, f.trade_key, f.leg_index) for f in fills) == sorted(
        (f.order_id, f.exchange_trade_id or f"#{f.sequence_order}", f.leg_index)
        for f in ledger)


def _two_session_recording(path: Path) -> Path:
    """normal_day recorded twice in one file, as a recorder that reconnected would."""
    frames = list(read_recording(FIXTURES / "normal_day.t4rec"))
    with path.open("wb") as handle:
        writer = RecordingWriter(handle)
        for record in [*frames, *frames]:
            writer.write(record.frame, record.received_ns)
    return path


def test_replay_command_captures_a_recording_of_two_sessions(tmp_path: Path) -> None:
    recording = _two_session_recording(tmp_path / "two.t4rec")
    db = tmp_path / "fills.db"
    config = write_config(tmp_path / "replay.toml", {
        "store": {"url": f"sqlite:///{db}"},
        "users": [{"name": "A", "accounts": ["11111", "22222"]},
                  {"name": "B", "accounts": ["33333", "44444"]}],
        "log": {"format": "json", "level": "warning"},
    })
    expected = ledger_rows(read_ledger(FIXTURES / "normal_day.ledger.jsonl"), OWNED)

    done = subprocess.run(
        [sys.executable, "-m", "fillcapture", "--config", str(config), "replay",
         str(recording)], capture_output=True, text=True, timeout=60, env=clean_env(),
        cwd=tmp_path, check=False)

    print(done.stdout)
    assert done.returncode == 0, done.stderr[-2000:]
    # The second session is a reconnect: its login and snapshot again, all duplicates.
    assert "in 2 session(s)" in done.stdout
    assert f"({len(expected)} new, {len(expected)} duplicate" in done.stdout
    assert sorted(stored_rows(db), key=repr) == sorted(expected, key=repr)


def test_replay_of_a_file_that_is_no_recording_exits_2(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.t4rec"
    bogus.write_bytes(b"not a recording")
    done = subprocess.run(
        [sys.executable, "-m", "fillcapture", "replay", str(bogus)], capture_output=True,
        text=True, timeout=60, env=clean_env(), cwd=tmp_path, check=False)
    assert done.returncode == 2
    assert "not a fillcapture T4 recording" in done.stderr


@pytest.mark.parametrize("name", ["normal_day", "busts", "spread_legs", "reconnect"])
async def test_each_recorded_fixture_replays_to_its_owned_ledger(tmp_path: Path, name: str) -> None:
    ledger = read_ledger(FIXTURES / f"{name}.ledger.jsonl")
    db = tmp_path / "fills.db"
    settings = Settings(
        store=StoreSettings(url=f"sqlite:///{db}"),
        users=[UserSettings(name="A", accounts=["11111", "22222"]),
               UserSettings(name="B", accounts=["33333", "44444"])],
    )

    summary = await replay(settings, FIXTURES / f"{name}.t4rec")

    stored = stored_rows(db, busted=True)
    owned = [fill for fill in ledger if fill.account in OWNED]
    print(f"{name}: {summary}; ledger={len(ledger)} owned={len(owned)} "
          f"busted={sum(1 for f in owned if f.busted_at)} "
          f"legs={sum(1 for f in owned if f.leg_index is not None)} stored={len(stored)}")
    # These sessions were recorded before the simulator's spreads had
    # definitions (legs of outright markets): their legs stay pending, on the
    # spread's market without a side of their own.
    expected = [(*row[:5], None if row[4] is not None else row[5], *row[6:])
                for row in ledger_rows(ledger, OWNED, busted=True)]
    assert sorted(stored, key=repr) == sorted(expected, key=repr)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        legs = conn.execute("SELECT kind, leg_sign, market_id = spread_market_id, order_side "
                            "FROM fills WHERE leg_index >= 0").fetchall()
    assert len(legs) == sum(1 for f in owned if f.leg_index is not None)
    assert {(kind, sign, same) for kind, sign, same, _ in legs} <= {(1, None, 1)}
    assert all(side in ("BUY", "SELL") for *_, side in legs)
    if name == "busts":
        assert summary.busts == sum(1 for f in owned if f.busted_at) > 0
    if name == "spread_legs":
        assert {f.leg_index for f in owned} == {None, 0, 1}
    if name == "reconnect":
        assert summary.sessions >= 3
        assert summary.malformed > 0
