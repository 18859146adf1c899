"""The SQLite engine itself: its file, permissions, pragmas, migrations,
read-only use, store URLs, and the store tests whose point is SQLite (rows as
stored, the stream's page size, backups, a damaged file, a second connection).

These open, close and reopen real files, sometimes from two connections at once.
The other store tests speak only the store protocol, for every engine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from fillcapture.model import Bust
from fillcapture.store import (
    FillQuery,
    Owner,
    StoreError,
    Verification,
    locate,
    open_store,
)
from fillcapture.store._sqlite import SqliteStore, migrations
from fillcapture.store._sqlite import query as sqlite_engine
from fillcapture.store._sqlite.migrations import Migration
from fillcapture.store._sqlite.rows import INSERT_COLUMNS, SPREAD_COLUMNS, utc_micros
from fillcapture.store._sqlite.selects import page_select as _page_select
from fillcapture.store.columns import KEPT, SELECT_COLUMNS
from fillcapture.store.records import FillPosition
from tests.store.factories import DAY, T0, make_fill
from tests.store.test_busts import BUST_TIME, _busted
from tests.store.test_markets import CL, ES
from tests.store.test_operations import snapshot
from tests.store.test_query import trade_ids


@pytest.fixture
def store(sqlite_store: SqliteStore) -> SqliteStore:
    """These tests are about SQLite itself: the SQLite engine only."""
    return sqlite_store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


async def test_new_file_is_private(db_path: Path) -> None:
    async with SqliteStore(db_path) as store:
        await store.insert_fills([make_fill(1)])
        assert mode(db_path.parent) == 0o700
        assert mode(db_path) == 0o600
        for suffix in ("-wal", "-shm"):
            sidecar = db_path.with_name(db_path.name + suffix)
            assert mode(sidecar) == 0o600, suffix


async def test_connection_pragmas(store: SqliteStore) -> None:
    assert store._conn is not None
    expected = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 5000}
    for pragma, value in expected.items():
        async with store._conn.execute(f"PRAGMA {pragma}") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        assert row[0] == value, pragma


async def test_reopen_keeps_data_and_schema(db_path: Path) -> None:
    async with SqliteStore(db_path) as store:
        await store.insert_fills([make_fill(1)])
        await store.add_user("A", ["11111"])
    async with SqliteStore(db_path) as store:
        assert await store.count_fills() == 1
        assert await store.registry() == [Owner("A", None, "11111")]
    assert user_version(db_path) == migrations.LATEST


async def test_two_processes_creating_one_file_at_once(db_path: Path) -> None:
    first, second = SqliteStore(db_path), SqliteStore(db_path)
    await asyncio.gather(first.__aenter__(), second.__aenter__())
    try:
        await first.insert_fills([make_fill(1)])
        assert await second.count_fills() == 1
    finally:
        await first.close()
        await second.close()


async def test_pending_migration_is_applied_on_open(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SqliteStore(db_path):
        pass
    extra = Migration(
        migrations.LATEST + 1,
        "test: notes column",
        ("ALTER TABLE fills ADD COLUMN note TEXT",),
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, extra))
    monkeypatch.setattr(migrations, "LATEST", extra.version)

    with pytest.raises(StoreError, match="open it read-write once"):
        async with SqliteStore(db_path, readonly=True):
            pass
    async with SqliteStore(db_path):
        pass
    async with SqliteStore(db_path):  # applying twice would fail: duplicate column
        pass

    assert user_version(db_path) == extra.version


async def test_failed_migration_leaves_the_old_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SqliteStore(db_path):
        pass
    broken = Migration(
        migrations.LATEST + 1,
        "test: broken",
        ("CREATE TABLE half_done (x)", "THIS IS NOT SQL"),
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    monkeypatch.setattr(migrations, "LATEST", broken.version)

    with pytest.raises(StoreError, match="cannot prepare the schema"):
        async with SqliteStore(db_path):
            pass

    assert user_version(db_path) == broken.version - 1
    with sqlite3.connect(db_path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables


async def test_store_newer_than_the_code_is_refused(db_path: Path) -> None:
    async with SqliteStore(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")

    for readonly in (False, True):
        with pytest.raises(StoreError, match="newer than this fillcapture"):
            async with SqliteStore(db_path, readonly=readonly):
                pass


async def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE something (x)")

    with pytest.raises(StoreError, match="not a fillcapture store"):
        async with SqliteStore(other):
            pass


async def test_readonly_reads_and_refuses_writes(db_path: Path) -> None:
    async with SqliteStore(db_path) as store:
        await store.insert_fills([make_fill(1, price_text="1.08500")])
        await store.add_user("A", ["11111"])

    async with SqliteStore(db_path, readonly=True) as reader:
        assert await reader.count_fills() == 1
        assert [f.price async for f in reader.fills(FillQuery(user="A"))] == ["1.08500"]
        assert await reader.users() == {"A": [Owner("A", None, "11111")]}
        writes = [
            reader.insert_fills([make_fill(2)]),
            reader.resolve_sides([]),
            reader.seed_registry([Owner("B", None, "2")]),
            reader.add_user("B", ["22222"]),
            reader.remove_user("A"),
        ]
        for write in writes:
            with pytest.raises(StoreError, match="read-only"):
                await write
        assert await reader.count_fills() == 1


async def test_readonly_never_creates_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "fills.db"
    with pytest.raises(StoreError, match="no such store"):
        async with SqliteStore(missing, readonly=True):
            pass
    assert not missing.parent.exists()

    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreError, match="no schema"):
        async with SqliteStore(empty, readonly=True):
            pass
    assert empty.stat().st_size == 0


async def test_readonly_sees_the_writers_commits(store: SqliteStore, db_path: Path) -> None:
    async with SqliteStore(db_path, readonly=True) as reader:
        await store.insert_fills([make_fill(1)])
        assert await reader.count_fills() == 1


async def test_closed_store_refuses_work(db_path: Path) -> None:
    store = SqliteStore(db_path)
    with pytest.raises(StoreError, match="not open"):
        await store.count_fills()
    async with store:
        pass
    await store.close()  # idempotent
    with pytest.raises(StoreError, match="not open"):
        await store.registry()


async def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("sqlite:///var/rel.db") as store:
        assert isinstance(store, SqliteStore)
        assert store.path == Path("var/rel.db")
    assert (tmp_path / "var" / "rel.db").is_file()

    absolute = tmp_path / "abs.db"
    async with open_store(f"sqlite:///{absolute}") as store:
        assert isinstance(store, SqliteStore)
        assert store.path == absolute
    reader = open_store(f"sqlite:///{absolute}", readonly=True)
    assert isinstance(reader, SqliteStore)
    assert reader.readonly

    for bad in ("mysql://db/fills", "sqlite:///", "fills.db"):
        with pytest.raises(StoreError, match="store url"):
            open_store(bad)


async def test_writer_waits_out_another_processs_lock(store: SqliteStore, db_path: Path) -> None:
    """busy_timeout: a write lock held elsewhere delays the store, it does not fail it."""
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO users (name, created_at) VALUES ('X', '2024-01-01')")
    loop = asyncio.get_running_loop()
    release = loop.call_later(0.3, lambda: other.execute("COMMIT"))
    try:
        started = loop.time()
        await store.add_user("A", ["11111"])
        assert loop.time() - started >= 0.25
    finally:
        release.cancel()
        other.close()
    assert set(await store.users()) == {"A", "X"}


async def test_cli_process_edits_are_seen_by_the_open_store(
    store: SqliteStore, db_path: Path
) -> None:
    await store.insert_fills([make_fill(1)])
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from fillcapture.store._sqlite import SqliteStore\n"
        "async def main():\n"
        "    async with SqliteStore(Path(sys.argv[1])) as cli:\n"
        "        await cli.add_user('A', ['11111'])\n"
        "asyncio.run(main())\n"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(db_path))
    assert await process.wait() == 0

    assert await store.registry() == [Owner("A", None, "11111")]
    assert [f.user async for f in store.fills(FillQuery(user="A"))] == ["A"]


def test_many_processes_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Daemons of several firms may share one store and start together."""
    db = tmp_path / "shared.db"
    script = (
        "import asyncio, sys\n"
        "from fillcapture.store._sqlite import SqliteStore\n"
        "async def main():\n"
        "    async with SqliteStore(sys.argv[1]) as store:\n"
        "        await store.count_fills()\n"
        "asyncio.run(main())\n"
    )
    for _ in range(8):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        procs = [subprocess.Popen([sys.executable, "-c", script, str(db)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(6)]
        errors = [p.communicate(timeout=30)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, errors


@pytest.mark.parametrize("version", [5, 7])
async def test_an_older_store_gets_the_time_index_and_pages_use_it(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """Migration 8 indexes the fills already stored, and a page of an account's
    trade dates then reads them in time order rather than sorting them all."""
    with monkeypatch.context() as older:
        older.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:version])
        older.setattr(migrations, "LATEST", version)
        async with SqliteStore(db_path) as store:
            await store.insert_fills([
                make_fill(n, trade_date=DAY + timedelta(days=n % 4),
                          exchange_time=T0 + timedelta(days=n % 4, seconds=n),
                          account="11111" if n % 5 else "22222")
                for n in range(200)])
    assert user_version(db_path) == version

    query = FillQuery(account="11111", since=DAY + timedelta(days=1),
                      until=DAY + timedelta(days=2), include_busted=False)
    sql, params = _page_select(query, None, 11)
    async with SqliteStore(db_path) as store:
        assert store._conn is not None
        async with store._conn.execute("EXPLAIN QUERY PLAN " + sql, params) as cursor:
            plan = [str(row[3]) for row in await cursor.fetchall()]
        async with store._conn.execute("PRAGMA index_info(fills_account_time)") as cursor:
            columns = [str(row[2]) for row in await cursor.fetchall()]
        page = await store.fill_page(query, None, 10)

    assert user_version(db_path) == migrations.LATEST
    assert columns == ["account", "exchange_time"]
    assert any("USING INDEX fills_account_time (account=? AND exchange_time>" in step
               for step in plan), plan
    assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan
    expected = [f"T{n}" for n in range(200) if n % 4 in (1, 2) and n % 5]
    expected.sort(key=lambda tid: (int(tid[1:]) % 4, int(tid[1:])))
    assert [fill.exchange_trade_id for fill in page.fills] == expected[:10]


async def test_read_only_store_pages_and_refuses_tokens(store: SqliteStore) -> None:
    await store.add_user("A", ["11111"])
    await store.insert_fills([make_fill(n) for n in range(3)])
    async with SqliteStore(store.path, readonly=True) as reader:
        page = await reader.fill_page(FillQuery(user="A"), None, 2)
        assert page.next == FillPosition(T0 + timedelta(milliseconds=1), 2)
        assert page.next.exchange_time.tzinfo == UTC
        with pytest.raises(StoreError, match="read-only"):
            await reader.issue_token("A", "h", admin=False)


async def test_second_connection_sees_registry_edits(store: SqliteStore, db_path: Path) -> None:
    """The daemon's store sees what the CLI (another connection) committed."""
    await store.seed_registry([Owner("A", None, "11111")])
    async with SqliteStore(db_path) as cli:
        assert await cli.registry() == [Owner("A", None, "11111")]
        await cli.add_user("B", ["33333"])
        await cli.remove_user("A")

    assert await store.registry() == [Owner("B", None, "33333")]


async def test_a_readonly_store_reads_markets_and_refuses_to_save(db_path: Path) -> None:
    async with SqliteStore(db_path) as store:
        await store.save_markets([ES])
    async with SqliteStore(db_path, readonly=True) as reader:
        assert await reader.markets() == {ES.market_id: ES}
        with pytest.raises(StoreError):
            await reader.save_markets([CL])


async def test_backup_is_a_complete_store_and_prune_keeps_recent_days(
    store: SqliteStore, tmp_path: Path,
) -> None:
    await store.insert_fills([make_fill(n) for n in range(100)])
    await store.insert_fills([make_fill(200, trade_date=DAY - timedelta(days=40))])
    backup = tmp_path / "backup.db"

    await store.backup(backup)
    assert await store.integrity_check() == ["ok"]

    async with SqliteStore(backup, readonly=True) as copy:
        copied = [f async for f in copy.fills(FillQuery())]
    original = [f async for f in store.fills(FillQuery())]
    assert copied == original
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    assert await store.prune(DAY - timedelta(days=30)) == 1
    assert await store.count_fills() == 100


async def test_integrity_check_reports_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "fills.db"
    async with SqliteStore(path) as store:
        await store.insert_fills([make_fill(n) for n in range(2000)])
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'fills_account_date'").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    # Garbage over the account index's root page: the table itself is intact.
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * page_size)

    async with SqliteStore(path) as store:
        findings = await store.integrity_check()

    print(findings[:3])
    assert findings != ["ok"]
    assert findings


async def test_a_day_sealed_unverified_or_without_a_snapshot_says_so(
        store: SqliteStore) -> None:
    await store.insert_fills([make_fill(1)])
    # A later snapshot of another day leaves this day's record alone.
    await store.save_snapshots([snapshot(1, day=DAY + timedelta(days=1))])
    await store.seal_day("SIMFIRM", DAY, None, Verification(False, reason="no snapshot"))
    await store.seal_day("OTHER", DAY - timedelta(days=1), None)  # as before certificates
    older, day = await store.sealed_days()
    assert (older.firm, older.verified, older.certificates) == ("OTHER", None, ())
    assert (day.verified, day.unverified_reason, day.reconciled_at) == (False, "no snapshot", None)
    (certificate,) = day.certificates
    assert (certificate.snapshot, certificate.stored, certificate.difference) == (None, 1, None)
    assert [d.firm for d in await store.sealed_days(latest=True)] == ["OTHER", "SIMFIRM"]
    assert await store.sealed_days(since=DAY + timedelta(days=1)) == []
    assert await store.prune(DAY + timedelta(days=2)) == 1
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM snapshot_counts").fetchone() == (0,)


async def test_streams_in_pages_past_the_page_size(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_engine, "PAGE_ROWS", 7)
    await store.insert_fills([make_fill(n) for n in range(100)])

    assert await trade_ids(store, FillQuery()) == [f"T{n}" for n in range(100)]


async def test_a_bust_marks_its_stored_fill_and_is_recorded_once(store: SqliteStore) -> None:
    fills = [make_fill(n) for n in range(3)]
    await store.insert_fills(fills)

    assert await store.insert_busts([Bust(fills[1], BUST_TIME)]) == (0, 1)
    assert await store.insert_busts([Bust(fills[1], BUST_TIME + timedelta(1))]) == (0, 0)

    assert await _busted(store) == {"order-0": False, "order-1": True, "order-2": False}
    assert await store.count_fills() == 3
    assert await store.count_busts() == 1
    # The first bust time stays: a redelivered bust changes nothing.
    with sqlite3.connect(store.path) as conn:
        sql = "SELECT busted_at FROM fills WHERE order_id = 'order-1'"
        (micros,) = conn.execute(sql).fetchone()
    assert micros == utc_micros(BUST_TIME)


async def test_a_sqlite_location_is_its_file(tmp_path: Path) -> None:
    db = tmp_path / "state" / "fills.db"
    location = locate(f"sqlite:///{db}")
    assert location.describe() == str(db)
    assert not location.exists()
    assert location.holds(tmp_path / "state")
    assert not location.holds(tmp_path)
    async with location.open() as store:
        assert await store.count_fills() == 0
        assert location.exists()
        assert location.reader_hint() is None  # the writer keeps the -shm file
    hint = location.reader_hint()
    assert hint is not None
    assert "-wal and -shm" in hint


async def test_the_fills_table_has_every_column_of_the_fill_shape(
        sqlite_store: SqliteStore, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        present = {row[1] for row in conn.execute("PRAGMA table_info(fills)")}
    assert set(SELECT_COLUMNS) <= present
    # Capture writes every kept column but the bust's, which a bust sets.
    assert set(KEPT.values()) - {"busted_at"} <= set(INSERT_COLUMNS) | set(SPREAD_COLUMNS)


def test_a_sqlite_store_never_loads_the_postgresql_driver(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "import fillcapture.service, fillcapture.cli.main\n"
        "from fillcapture.store import open_store\n"
        "async def main():\n"
        f"    async with open_store('sqlite:///{tmp_path / 'x.db'}') as store:\n"
        "        await store.count_fills()\n"
        "asyncio.run(main())\n"
        "print('asyncpg' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "False"
