"""A trading day end to end, in-process, with the daemon's clock in the test's hands:
the pre-roll reconcile, a disconnect across the roll, the seal and its amendments,
the weekly backup. Real simulator over WebSocket, real SQLite file."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

from structlog.testing import capture_logs

from fillcapture.config import MaintenanceSettings, Settings, StoreSettings, T4Settings
from fillcapture.daemon import Daemon
from fillcapture.feeds.t4.proto import auth_pb2
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.replaying import replay
from fillcapture.schedule import CHICAGO
from fillcapture.sim import SimConfig, SimServer
from fillcapture.store import FillQuery, Owner, open_store
from tests.conftest import (
    FIXTURES,
    Proc,
    SimProc,
    daemon_config,
    ledger_rows,
    run_cli,
    store_at,
    stored_rows,
    wait_until,
    write_config,
)

MONDAY = date(2026, 11, 23)
TUESDAY = date(2026, 11, 24)
OWNED = {"11111", "22222", "33333", "44444"}


def chicago(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CHICAGO)


@dataclass
class Clock:
    """The daemon's idea of now, moved by the test."""

    now: datetime = field(default_factory=lambda: chicago(MONDAY, 15, 0))

    def __call__(self) -> datetime:
        return self.now


def _settings(url: str, db: Path, **extra: object) -> Settings:
    return Settings.model_validate({
        "t4": T4Settings(url=url, firm="SIMFIRM", username="WhenTechFillUser",
                         password="sim-password", app_license="x", subscribe_all=True,
                         reconnect_base=0.05, reconnect_cap=0.1),
        "store": StoreSettings(url=f"sqlite:///{db}"),
        "schedule": {"enabled": False},
        **extra,
    })


@asynccontextmanager
async def running_daemon(settings: Settings, clock: Clock) -> AsyncIterator[Daemon]:
    async with open_store(settings.store.url) as store:
        await store.seed_registry([Owner(u, None, a) for u, a in (
            ("A", "11111"), ("A", "22222"), ("B", "33333"), ("B", "44444"))])
        daemon = Daemon(settings, store, Metrics())
        daemon.operations.clock = clock
        await daemon.load_registry()
        runner = asyncio.create_task(
            daemon.run(T4Feed(settings.t4, lambda: daemon.ownership, daemon.metrics)))
        try:
            yield daemon
        finally:
            daemon.stop()
            await runner


async def until(predicate: Callable[[], bool], seconds: float = 15) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_the_pre_roll_reconcile_recovers_fills_the_session_missed(tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    config = SimConfig(trade_date=MONDAY, fills_per_second=400, max_fills=1500, seed=3)
    clock = Clock()
    async with SimServer(config) as sim, running_daemon(_settings(sim.url, db), clock) as daemon:
        await until(lambda: len(sim.ledger) >= 300)
        sim.lose_live_frames(True)  # connected, yet hearing nothing: a silent loss
        await until(lambda: len(sim.ledger) >= 900)
        sim.lose_live_frames(False)
        await until(lambda: len(sim.ledger) == 1500)
        await asyncio.sleep(0.3)
        expected = sorted(ledger_rows(sim.ledger, OWNED), key=repr)
        missing = len(expected) - len(stored_rows(db))
        clock.now = chicago(MONDAY, 15, 55)

        recovered = await daemon.operations.reconcile_job(settle=1.0)

        stored = sorted(stored_rows(db), key=repr)
        metrics = daemon.metrics
    print(f"owned fills {len(expected)}, missing before the reconcile {missing}, "
          f"recovered per account {recovered}")
    assert missing > 100
    assert sum(recovered.values()) == missing
    assert set(recovered) <= OWNED
    assert stored == expected
    assert metrics["fills.recovered"] >= missing


async def test_a_disconnect_across_the_roll_is_one_unrecoverable_gap(tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    clock = Clock(chicago(MONDAY, 15, 50))
    config = SimConfig(trade_date=MONDAY, fills_per_second=200, seed=4)
    async with SimServer(config) as sim, running_daemon(_settings(sim.url, db), clock) as daemon:
        await until(lambda: daemon.status.state == "subscribed")
        await until(lambda: len(stored_rows(db)) > 50)
        # T4 goes away two minutes before the close and is back after the roll.
        clock.now = chicago(MONDAY, 15, 58)
        sim.refuse_logins(auth_pb2.LOGIN_RESULT_UNEXPECTED_ERROR)
        await sim.drop_connections()
        await until(lambda: sim.login_attempts["LOGIN_RESULT_UNEXPECTED_ERROR"] >= 3)
        clock.now = chicago(MONDAY, 17, 5)
        assert sim.roll() == TUESDAY
        sim.refuse_logins(None)
        await until(lambda: daemon.metrics["gaps.unrecoverable"] == 1)
        await until(lambda: daemon.status.state == "subscribed")
        gaps_open = daemon.metrics.gauge("gaps.open")
    async with store_at(db, readonly=True) as store:
        gaps = await store.gaps()
    print(f"gaps: {[(g.id, g.started_at, g.ended_at, g.unrecoverable) for g in gaps]}")
    lost = [gap for gap in gaps if gap.unrecoverable]
    assert len(lost) == 1
    assert lost[0].started_at == chicago(MONDAY, 15, 58)
    assert lost[0].ended_at == chicago(MONDAY, 17, 5)
    assert gaps_open == 1

    config = write_config(tmp_path / "c.toml", {"store": {"url": f"sqlite:///{db}"}})
    shown = run_cli(config, "status", "--json")
    status = json.loads(shown.stdout)
    assert [gap["id"] for gap in status["open_gaps"]] == [lost[0].id]
    assert status["daemons"][0]["state"] == "stopped"
    assert "UNRECOVERABLE GAP" in run_cli(config, "status").stdout
    assert run_cli(config, "gaps", "ack", str(lost[0].id)).returncode == 0
    assert json.loads(run_cli(config, "status", "--json").stdout)["open_gaps"] == []
    assert run_cli(config, "gaps", "ack", "999").returncode == 1


async def test_a_new_stores_first_seal_is_of_the_first_day_it_captured(tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    clock = Clock(chicago(TUESDAY, 10, 0))
    config = SimConfig(trade_date=TUESDAY, fills_per_second=math.inf, max_fills=200, seed=8)
    with capture_logs() as logs:
        async with SimServer(config) as sim, \
                running_daemon(_settings(sim.url, db), clock) as daemon:
            await until(lambda: len(sim.ledger) == 200)
            await until(lambda: len(stored_rows(db)) == len(ledger_rows(sim.ledger, OWNED)))
            # Monday rolled before this store captured anything: nothing to certify.
            assert await daemon.operations.seal_job() == []
            clock.now = chicago(TUESDAY, 17, 5)
            seals = await daemon.operations.seal_job()
    assert {seal.trade_date for seal in seals} == {TUESDAY}
    assert sum(seal.fills for seal in seals) == len(ledger_rows(sim.ledger, OWNED))
    assert [e["trade_date"] for e in logs if e["event"] == "seal.skipped"] == [MONDAY.isoformat()]
    # No reconcile ran on Tuesday either, so its seal is unverified; Monday has none.
    assert [e["trade_date"] for e in logs if e["event"] == "seal.unverified"] == [
        TUESDAY.isoformat()]
    async with store_at(db, readonly=True) as store:
        assert [day.trade_date for day in await store.sealed_days()] == [TUESDAY]
        assert await store.sealed_through("SIMFIRM") == TUESDAY


async def test_the_seal_fixes_the_day_and_later_changes_are_amendments(tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    clock = Clock(chicago(MONDAY, 16, 30))
    config = SimConfig(trade_date=MONDAY, fills_per_second=math.inf, max_fills=800, seed=6)
    async with SimServer(config) as sim, running_daemon(_settings(sim.url, db), clock) as daemon:
        await until(lambda: len(sim.ledger) == 800)
        await until(lambda: len(stored_rows(db)) == len(ledger_rows(sim.ledger, OWNED)))
        assert await daemon.operations.seal_job() == []  # before the roll: nothing
        clock.now = chicago(MONDAY, 17, 5)
        seals = await daemon.operations.seal_job()
        assert await daemon.operations.seal_job() == []  # sealed once
    expected = len(ledger_rows(sim.ledger, OWNED))
    assert sum(seal.fills for seal in seals) == expected
    assert {seal.trade_date for seal in seals} == {MONDAY}
    # The seal checkpointed the summary's books at the sealed day.
    async with store_at(db, readonly=True) as store:
        positions = await store.position_day("SIMFIRM", TUESDAY)
    assert positions is not None
    assert positions.trade_date == MONDAY
    assert positions.books, "800 simulated fills leave some position open"

    # normal_day was recorded on Monday 2026-11-23, so replaying it into this
    # store changes the sealed Monday: every new fill is an amendment.
    fixture = FIXTURES / "normal_day.t4rec"
    summary = await replay(_settings("ws://127.0.0.1:9/v1", db), fixture)
    with sqlite3.connect(db) as conn:
        amendments = conn.execute("SELECT count(*) FROM amendments").fetchone()[0]
    print(f"sealed {expected} fills in {len(seals)} accounts; replay: {summary}; "
          f"amendments {amendments}")
    assert summary.captured == 725
    assert amendments == 725
    async with store_at(db, readonly=True) as store:
        after = {seal.account: seal for seal in await store.seals()}
    assert sum(seal.amendments for seal in after.values()) == 725
    async with store_at(db, readonly=True) as store:
        # The amendments changed Monday: its positions no longer hold (the
        # replay's own daemon may have sealed an earlier day meanwhile).
        latest = await store.position_day("SIMFIRM", TUESDAY)
    assert latest is None or latest.trade_date < MONDAY
    assert {a: s.fills for a, s in after.items()} == {s.account: s.fills for s in seals}


async def test_weekly_maintenance_backs_up_rotates_and_checks(tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    backups = tmp_path / "backups"
    clock = Clock(datetime(2026, 11, 28, 8, 0, tzinfo=UTC))
    config = SimConfig(trade_date=MONDAY, fills_per_second=math.inf, max_fills=500, seed=7)
    async with SimServer(config) as sim:
        settings = _settings(sim.url, db, maintenance=MaintenanceSettings(
            backup_dir=backups, keep=2))
        # An operator's own files in backup_dir, some alike the backups' names.
        backups.mkdir()
        theirs = ["important.db", "fills-important.db", "fills-2026.db",
                  "fills-20260101T000000Z.db.bak"]
        for name in theirs:
            (backups / name).write_text(name)
        async with running_daemon(settings, clock) as daemon:
            await until(lambda: len(sim.ledger) == 500)
            await until(lambda: len(stored_rows(db)) == len(ledger_rows(sim.ledger, OWNED)))
            for week in range(3):
                clock.now = datetime(2026, 11, 28, 8, week, tzinfo=UTC)
                await daemon.operations.maintenance_job()
            integrity = daemon.metrics["store.integrity_failures"]
    assert all((backups / name).read_text() == name for name in theirs)
    kept = sorted(set(backups.glob("fills-*.db")) - {backups / name for name in theirs})
    print(f"backups kept: {[path.name for path in kept]}")
    assert [path.name for path in kept] == \
        ["fills-20261128T080100Z.db", "fills-20261128T080200Z.db"]
    assert all(oct(path.stat().st_mode & 0o777) == "0o600" for path in kept)
    assert integrity == 0
    async with store_at(kept[-1], readonly=True) as copy, \
            store_at(db, readonly=True) as original:
        assert [f async for f in copy.fills(FillQuery())] == \
            [f async for f in original.fills(FillQuery())]
        state = (await original.state())["SIMFIRM"]
    assert state["backup.path"] == str(kept[-1])
    assert state["integrity.last"].startswith("ok")


def test_status_reads_the_store_while_the_daemon_runs_and_after(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "200", "--accounts", "11111,22222,33333,55555")
    config = daemon_config(tmp_path, sim)  # owns 44444 too, which this firm lacks
    daemon = start_daemon(config)
    wait_until(lambda: len(stored_rows(tmp_path / "fills.db")) > 20, 30, "fills stored")

    running = json.loads(run_cli(config, "status", "--json").stdout)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    after = json.loads(run_cli(config, "status", "--json").stdout)
    text = run_cli(config, "status").stdout

    print(text)
    (me,) = running["daemons"]
    assert me["running"] is True
    assert me["state"] == "subscribed"
    assert me["username"] == "WhenTechFillUser"
    assert me["accounts"] == {"visible": ["11111", "22222", "33333", "55555"],
                              "owned": ["11111", "22222", "33333", "44444"],
                              "owned_but_invisible": ["44444"]}
    busy = {row["account"]: row["fills_today"] for row in running["accounts"]}
    assert busy["44444"] == 0
    assert sum(busy.values()) > 20
    assert after["daemons"][0]["state"] == "stopped"
    assert after["daemons"][0]["running"] is False
    assert "1 owned but invisible (44444)" in text
