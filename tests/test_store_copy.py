"""``fillcapture store copy``: a whole store moved between engines, verified, resumable.

Real stores only: a SQLite file and databases of the session's throwaway
PostgreSQL cluster; the command runs as the operator runs it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from fillcapture.fees import FeeSchedule
from fillcapture.model import (
    Bust,
    Market,
    Quarantined,
    Side,
    SnapshotReceived,
    SpreadDefinition,
    SpreadLeg,
    VisibleAccount,
)
from fillcapture.store import FillQuery, OutboxCursor, Owner, Store, Verification, open_store
from fillcapture.store.copying import TableCopy, copy_store, copy_table, verify
from fillcapture.store.tables import BY_NAME, TABLES, Table
from tests.conftest import (
    ROOT,
    Proc,
    SimProc,
    clean_env,
    cli_here,
    daemon_config,
    stored_rows,
    wait_until,
)
from tests.store.factories import DAY, T0, make_fill

EXCLUDED = {"schema_migrations", "leases", "sqlite_sequence"}
"""Tables of an engine not copied (see fillcapture/store/tables.py for why)."""


def copy(tmp_path: Path, source: str, destination: str, *extra: str
         ) -> subprocess.CompletedProcess[str]:
    return cli_here(["store", "copy", source, destination, *extra], tmp_path)


def password_of(url: str) -> str:
    password = urlsplit(url).password
    assert password
    return password


async def populate(store: Store, fills: int = 40) -> None:
    """Rows in every table, through the store's own protocol where it has one."""
    await store.seed_registry([Owner("A", None, "11111"), Owner("B", "SIMFIRM", "22222")])
    await store.add_user("C", ["33333"], "SIMFIRM")
    await store.save_accounts("SIMFIRM", [VisibleAccount("acc-11111", "11111", "A's", "ACODE")])
    await store.save_markets([Market("XCME_Eq ES (Z26)", "XCME_Eq", "ES", Decimal("50"))])
    await store.seed_fee_schedules([
        FeeSchedule("commission", Decimal("1.250"), "USD", date(1970, 1, 1)),
        FeeSchedule("exchange", Decimal("0.000001"), "EUR", DAY, "EUREX", "FDAX", "11111",
                    "A", Side.SELL)])
    await store.save_spreads([SpreadDefinition("SPREAD", 3, (
        SpreadLeg("XCME_Eq ES (Z26)", 1, 1), SpreadLeg("XCME_Eq ES (H27)", 1, -1)))])
    await store.insert_fills([make_fill(n, account="22222" if n % 3 else "11111",
                                        side=None if n % 7 == 0 else make_fill(n).side)
                              for n in range(fills)])
    await store.insert_busts([Bust(make_fill(n), T0 + timedelta(hours=1)) for n in (1, 2, 5)])
    await store.quarantine([Quarantined("SIMFIRM", "acc-11111", "11111", "o9", "invalid_price",
                                        "price 'x'", "trade", b"\x00raw\xff", DAY, T0)])
    await store.save_snapshots([SnapshotReceived("SIMFIRM", "acc-11111", "11111",
                                                 ((DAY, 5),), 0, True)])
    await store.seal_day("SIMFIRM", DAY, T0 + timedelta(hours=2), Verification(True, "resubscribe"))
    await store.insert_amendments([make_fill(fills + 1)], [])
    gap = await store.open_gap("main", T0, "disconnected")
    await store.close_gap(gap, T0 + timedelta(minutes=1), unrecoverable=True)
    await store.set_state("main", {"state": "connected", "user": "fills"})
    await store.issue_token("A", "a" * 64, admin=False)
    await store.issue_token("ops", "b" * 64, admin=True)
    batch = await store.outbox_batch(OutboxCursor(), fills // 2)
    await store.save_outbox("mqtt", batch.cursor)
    # The daily summary's checkpoints, as its engine role keeps them.
    at = datetime(2024, 3, 2, 1, tzinfo=UTC)
    for name, row in {
        "position_days": ("SIMFIRM", DAY, at),
        "positions": ("SIMFIRM", DAY, "11111", "XCME_Eq ES (Z26)", "6012.25:3"),
        "position_invalidations": (7, "SIMFIRM", DAY, at),
        "summary_rows": ("SIMFIRM", "11111", DAY, "XCME_Eq ES (Z26)", 2, 3, "6012.25", 0, 0,
                         None, "0", 3, 1, 0),
        "summary_coverage": ("SIMFIRM", DAY),
        "activity_days": ("11111", "SIMFIRM", DAY, 2, 3, 0, T0, T0 + timedelta(seconds=1)),
    }.items():
        await store.write_rows(BY_NAME[name], [row])


async def counts(url: str) -> dict[str, int]:
    async with open_store(url, readonly=True) as store:
        return {table.name: await store.count_rows(table) for table in TABLES}


async def protocol_view(url: str) -> dict[str, Any]:
    """What the store's protocol reads back: must be the same after a move."""
    async with open_store(url, readonly=True) as store:
        fills = [f async for f in store.fills(FillQuery())]
        return {
            "fills": fills,
            "registry": sorted(await store.registry(), key=repr),
            "busts": await store.count_busts(),
            "quarantined": await store.quarantined(open_only=False),
            "markets": await store.markets(),
            "fees": await store.fee_schedules(),
            "spreads": await store.spreads(),
            "sealed": await store.sealed_days(),
            "gaps": await store.gaps(),
            "state": await store.state(),
            "outbox": (await store.outbox("mqtt")).cursor,
            "token": await store.token_holder("a" * 64),
            "positions": await store.position_day("SIMFIRM", DAY + timedelta(days=1)),
            "coverage": await store.summary_coverage("SIMFIRM"),
        }


async def all_equal(source: str, destination: str) -> bool:
    async with open_store(source, readonly=True) as mine, \
            open_store(destination, readonly=True) as theirs:
        return all(check.equal for check in await verify(mine, theirs))


def test_every_table_of_both_engines_is_copied_or_excluded(
        tmp_path: Path, postgres_url: str) -> None:
    async def names() -> tuple[set[str], set[str]]:
        async with open_store(f"sqlite:///{tmp_path / 'a.db'}"):
            pass
        async with open_store(postgres_url):
            pass
        import sqlite3
        with sqlite3.connect(tmp_path / "a.db") as db:
            lite = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        conn = await asyncpg.connect(postgres_url)
        try:
            pg = {r[0] for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        finally:
            await conn.close()
        return lite, pg

    lite, pg = asyncio.run(names())
    copied = {table.name for table in TABLES}
    assert lite - EXCLUDED == copied
    assert pg - EXCLUDED == copied


def test_sqlite_to_postgresql_and_back_keeps_every_table(tmp_path: Path,
                                                         postgres_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'fills.db'}"

    async def make() -> None:
        async with open_store(source) as store:
            await populate(store)

    asyncio.run(make())
    before = asyncio.run(counts(source))
    assert all(before.values()), {name: n for name, n in before.items() if not n}

    there = copy(tmp_path, source, postgres_url)
    assert there.returncode == 0, there.stderr
    assert "DIFFERENT" not in there.stdout
    assert there.stdout.count(" equal") == len(TABLES)
    assert asyncio.run(counts(postgres_url)) == before
    assert asyncio.run(protocol_view(postgres_url)) == asyncio.run(protocol_view(source))

    back = f"sqlite:///{tmp_path / 'back.db'}"
    home = copy(tmp_path, postgres_url, back)
    assert home.returncode == 0, home.stderr
    assert asyncio.run(all_equal(source, back))
    assert asyncio.run(protocol_view(back)) == asyncio.run(protocol_view(source))
    for result in (there, home):
        assert password_of(postgres_url) not in result.stdout + result.stderr


def test_a_second_pass_brings_changes_and_new_rows(tmp_path: Path, postgres_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'fills.db'}"

    async def make() -> None:
        async with open_store(source) as store:
            await populate(store)

    async def change() -> None:
        async with open_store(source) as store:
            await store.insert_busts([Bust(make_fill(9), T0 + timedelta(hours=3))])
            await store.insert_fills([make_fill(n) for n in range(100, 110)])
            await store.remove_user("C")
            await store.save_outbox("mqtt", (await store.outbox("mqtt")).newest)

    asyncio.run(make())
    assert copy(tmp_path, source, postgres_url).returncode == 0
    asyncio.run(change())
    again = copy(tmp_path, source, postgres_url)
    assert again.returncode == 0, again.stderr
    # Only what changed is written: 10 new fills and the busted one; a removed
    # user is removed (its accounts with it).
    assert "fills: 51 rows, 11 written, 0 removed" in again.stderr
    assert "users: 2 rows, 0 written, 1 removed" in again.stderr
    assert asyncio.run(protocol_view(postgres_url)) == asyncio.run(protocol_view(source))


class _Quiet:
    """Progress that records each table's result."""

    def __init__(self) -> None:
        self.done_with: dict[str, TableCopy] = {}

    def table(self, table: Table, total: int) -> Callable[[int], None]:
        return lambda count: None

    def done(self, table: Table, result: TableCopy) -> None:
        self.done_with[table.name] = result


@pytest.mark.parametrize("direction", ["to_postgresql", "to_sqlite"])
def test_a_user_added_between_its_tables_passes_is_deferred_not_orphaned(
        tmp_path: Path, postgres_url: str, direction: str) -> None:
    source = f"sqlite:///{tmp_path / 'fills.db'}"
    destination = postgres_url if direction == "to_postgresql" \
        else f"sqlite:///{tmp_path / 'copy.db'}"
    users, user_accounts = BY_NAME["users"], BY_NAME["user_accounts"]

    async def run() -> tuple[TableCopy, TableCopy]:
        async with open_store(source) as store:
            await populate(store)
        async with open_store(source) as store, open_store(destination) as copied:
            await copy_table(store, copied, users, 1000, lambda count: None)
            # The daemon's registry gains a user while the copy is between tables.
            await store.add_user("D", ["77777"], "SIMFIRM")
            first = await copy_table(store, copied, user_accounts, 1000, lambda count: None)
            progress = _Quiet()
            await copy_store(store, copied, progress, where="the copy")
        return first, progress.done_with["user_accounts"]

    first, second = asyncio.run(run())
    assert (first.written, first.deferred) == (3, 1)  # D's account waits for D
    assert (second.written, second.deferred) == (1, 0)
    assert asyncio.run(all_equal(source, destination))
    assert asyncio.run(protocol_view(destination)) == asyncio.run(protocol_view(source))


@pytest.mark.parametrize("direction", ["to_postgresql", "to_sqlite"])
def test_a_copied_cursor_publishes_what_the_source_had_not(
        tmp_path: Path, postgres_url: str, direction: str) -> None:
    lite = f"sqlite:///{tmp_path / 'fills.db'}"
    source, destination = (lite, postgres_url) if direction == "to_postgresql" \
        else (postgres_url, lite)

    async def make() -> None:
        async with open_store(source) as store:
            await store.insert_fills([make_fill(n) for n in range(30)])
            await store.insert_busts([Bust(make_fill(n), T0 + timedelta(hours=1))
                                      for n in (3, 40)])
            await store.insert_fills([make_fill(n) for n in range(30, 45)])
            published = await store.outbox_batch(OutboxCursor(), 25)
            await store.save_outbox("mqtt", published.cursor)

    async def unpublished(url: str) -> list[tuple[str, ...]]:
        async with open_store(url) as store:
            cursor, rows = (await store.outbox("mqtt")).cursor, []
            while True:
                batch = await store.outbox_batch(cursor, 7)
                if batch.cursor == cursor:
                    return rows
                rows += [("fill", f.order_id) for f in batch.fills]
                rows += [("bust", f.order_id) for f, _ in batch.busts]
                cursor = batch.cursor

    async def capture_more(url: str) -> list[tuple[str, ...]]:
        async with open_store(url) as store:
            cursor = (await store.outbox("mqtt")).newest
            await store.insert_fills([make_fill(n) for n in range(200, 203)])
            batch = await store.outbox_batch(cursor, 10)
            return [("fill", f.order_id) for f in batch.fills]

    asyncio.run(make())
    expected = asyncio.run(unpublished(source))
    # 20 fills and the bust of fill 40 after the saved place; fill 40 (stored
    # with its bust) was committed before fill 30.
    assert len(expected) == 21
    assert expected.index(("fill", "order-40")) < expected.index(("fill", "order-30"))
    result = copy(tmp_path, source, destination)
    assert result.returncode == 0, result.stderr
    assert asyncio.run(unpublished(destination)) == expected
    # Capture on the destination numbers its rows after the copied ones.
    assert asyncio.run(capture_more(destination)) == [
        ("fill", f"order-{n}") for n in range(200, 203)]


def test_a_killed_copy_run_again_continues_and_ends_equal(tmp_path: Path,
                                                          postgres_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'fills.db'}"
    total = 30000

    async def make() -> None:
        async with open_store(source) as store:
            for start in range(0, total, 5000):
                await store.insert_fills([make_fill(n) for n in range(start, start + 5000)])

    async def copied() -> int:
        conn = await asyncpg.connect(postgres_url)
        try:
            if await conn.fetchval("SELECT to_regclass('fills')") is None:
                return 0
            return int(await conn.fetchval("SELECT count(*) FROM fills"))
        finally:
            await conn.close()

    asyncio.run(make())
    child = subprocess.Popen(
        [sys.executable, "-m", "fillcapture", "store", "copy", source, postgres_url,
         "--batch", "50"], cwd=tmp_path, env=clean_env(PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (done := asyncio.run(copied())) < 2000:
            assert child.poll() is None, "the copy ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    left = asyncio.run(copied())
    assert done <= left < total

    again = copy(tmp_path, source, postgres_url)
    assert again.returncode == 0, again.stderr
    assert f"fills: {total:,} rows, {total - left:,} written" in again.stderr
    assert asyncio.run(all_equal(source, postgres_url))


def test_a_destination_holding_another_store_is_refused(tmp_path: Path,
                                                        postgres_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'fills.db'}"

    async def make() -> None:
        async with open_store(source) as store:
            await populate(store)
        async with open_store(postgres_url) as other:
            await other.insert_fills([make_fill(n, order_id=f"other-{n}") for n in range(5)])

    asyncio.run(make())
    result = copy(tmp_path, source, postgres_url)
    assert result.returncode == 2
    assert "holds another store's fills" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert password_of(postgres_url) not in result.stderr
    counted = asyncio.run(counts(postgres_url))
    assert (counted["fills"], counted["users"]) == (5, 0)  # nothing written


def test_bad_urls_are_one_line_without_the_password(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'fills.db'}"
    for args in ([source, "mysql://u:hunter2@db/x"],
                 [source, "postgresql://u:hunter2@db.example"],
                 ["postgresql://u:hunter2@db.example", source]):
        result = copy(tmp_path, *args)
        assert result.returncode == 2, result
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert "hunter2" not in result.stderr + result.stdout
    missing = copy(tmp_path, source, f"sqlite:///{tmp_path / 'b.db'}")
    assert missing.returncode == 2
    assert "no store at" in missing.stderr


def test_a_pass_beside_the_running_daemon_then_a_short_one_after_it_stops(
        tmp_path: Path, postgres_url: str, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    sim = start_sim("--rate", "1000", "--max-fills", "8000", "--seed", "5", "--bust", "0.02")
    daemon = start_daemon(daemon_config(tmp_path, sim))
    db = tmp_path / "fills.db"
    wait_until(lambda: len(stored_rows(db)) > 1000, 30, "the daemon to capture")

    long = copy(tmp_path, f"sqlite:///{db}", postgres_url)
    assert long.returncode in (0, 1), long.stderr  # the daemon commits meanwhile
    assert daemon.popen.poll() is None  # the copy never held it up
    wait_until(lambda: len(stored_rows(db)) > 3000, 30, "the daemon to capture more")
    daemon.stop()
    assert daemon.popen.returncode == 0

    short = copy(tmp_path, f"sqlite:///{db}", postgres_url)
    assert short.returncode == 0, short.stderr
    stored = len(stored_rows(db))
    written = int(next(line for line in short.stderr.splitlines()
                       if line.startswith("fills:")).split(", ")[1].split()[0].replace(",", ""))
    assert 0 < written < stored  # only what came after the long pass
    assert asyncio.run(all_equal(f"sqlite:///{db}", postgres_url))
