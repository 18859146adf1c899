"""The PostgreSQL engine itself: its schema, lease, outbox numbering, read-only
mode and errors, on the session's throwaway cluster (tests/pgcluster.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from fillcapture.store import FillQuery, OutboxCursor, StoreError, open_store
from fillcapture.store._postgres import migrations, outbox, writes
from fillcapture.store._postgres.engine import PostgresStore
from fillcapture.store._sqlite import SqliteStore
from tests.pgcluster import PostgresCluster, free_port
from tests.store.factories import T0, make_fill

ROOT = Path(__file__).resolve().parents[2]


def without_password(url: str) -> tuple[str, str]:
    """``url`` without its password, and the password."""
    parts = urlsplit(url)
    netloc = f"{parts.username}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), str(parts.password)


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    async with open_store(postgres_url) as opened:
        assert isinstance(opened, PostgresStore)
        yield opened


async def test_the_schema_has_every_table_and_view_of_the_sqlite_schema(
        store: PostgresStore, tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "fills.db"):
        pass
    with sqlite3.connect(tmp_path / "fills.db") as conn:
        sqlite_names = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view', 'index') "
            "AND name NOT LIKE 'sqlite_%'")}
    found = {row[0] for row in await store._all(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "UNION SELECT viewname FROM pg_views WHERE schemaname = current_schema() "
        "UNION SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
    assert sqlite_names - found == set()
    assert {"schema_migrations", "leases"} <= found


async def test_concurrent_first_opens_apply_each_migration_once(postgres_url: str) -> None:
    async def open_once() -> None:
        async with open_store(postgres_url):
            pass

    await asyncio.gather(*(open_once() for _ in range(4)))
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [(row[0], row[1]) for row in rows] == [
        (m.version, m.name) for m in migrations.MIGRATIONS]


async def test_a_database_of_other_tables_is_refused(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    await conn.execute("CREATE TABLE invoices (id int)")
    await conn.close()
    with pytest.raises(StoreError, match="not a fillcapture store") as refused:
        async with open_store(postgres_url):
            pass
    assert refused.value.permanent


async def test_a_newer_schema_is_refused(store: PostgresStore, postgres_url: str) -> None:
    async with store.transaction() as conn:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'x')")
    with pytest.raises(StoreError, match="upgrade fillcapture"):
        async with open_store(postgres_url, readonly=True):
            pass


async def test_read_only_needs_the_schema_and_never_writes(postgres_url: str) -> None:
    with pytest.raises(StoreError, match="run the daemon once") as refused:
        async with open_store(postgres_url, readonly=True):
            pass
    assert refused.value.permanent
    assert "\n" not in str(refused.value)
    _, password = without_password(postgres_url)
    assert password not in str(refused.value)

    async with open_store(postgres_url) as writer:
        await writer.insert_fills([make_fill(1)])
    async with open_store(postgres_url, readonly=True) as reader:
        assert isinstance(reader, PostgresStore)
        assert [fill.order_id async for fill in reader.fills(FillQuery())] == ["order-1"]
        with pytest.raises(StoreError, match="read-only"):
            await reader.insert_fills([make_fill(2)])
        # The server refuses too: every transaction of the session is READ ONLY.
        with pytest.raises(StoreError, match="refuses writes") as server:
            async with reader.reading() as conn:
                await conn.execute("DELETE FROM fills")
        assert server.value.permanent
    async with open_store(postgres_url) as writer:
        assert await writer.count_fills() == 1


async def test_the_password_comes_from_the_systemd_credential(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, password = without_password(postgres_url)
    (tmp_path / "store_password").write_text(password + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    async with open_store(url) as opened:
        assert await opened.insert_fills([make_fill(1)]) == 1


async def test_a_wrong_password_is_one_permanent_line_without_it(postgres_url: str) -> None:
    url, _ = without_password(postgres_url)
    with pytest.raises(StoreError) as refused:
        async with open_store(url, password="not-the-s3cret"):
            pass
    message = str(refused.value)
    assert refused.value.permanent
    assert "password authentication failed" in message
    assert "not-the-s3cret" not in message
    assert "\n" not in message
    assert message.startswith(f"postgresql://***@{urlsplit(url).hostname}")


async def test_a_server_not_running_is_transient() -> None:
    with pytest.raises(StoreError, match="cannot connect") as refused:
        async with open_store(f"postgresql://fc:pw@127.0.0.1:{free_port()}/fills"):
            pass
    assert not refused.value.permanent
    assert "pw@" not in str(refused.value)


async def test_a_missing_database_is_permanent(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    with pytest.raises(StoreError, match="does not exist") as refused:
        async with open_store(urlunsplit(parts._replace(path="/no_such_db"))):
            pass
    assert refused.value.permanent


async def test_a_second_lease_is_refused_naming_the_holder(
        store: PostgresStore, postgres_url: str) -> None:
    async with store.lease("SIMFIRM"), open_store(postgres_url) as other:
        with pytest.raises(StoreError) as refused:
            async with other.lease("SIMFIRM"):
                pass
        assert refused.value.permanent
        assert f"pid {os.getpid()} on host " in str(refused.value)
        assert "already captured into this store" in str(refused.value)
        async with other.lease("OTHER FIRM/2"):  # another instance: its own lease
            pass
    async with store.lease("SIMFIRM"):  # released at the end of the block
        pass


_HOLDER = """
import asyncio, sys
from fillcapture.store import open_store

async def main():
    async with open_store(sys.argv[1]) as store, store.lease("SIMFIRM"):
        print("held", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_lease_dies_with_its_holder_however_it_dies(
        store: PostgresStore, postgres_url: str) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, postgres_url, stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"
        with pytest.raises(StoreError, match=f"pid {holder.pid} "):
            async with store.lease("SIMFIRM"):
                pass
        holder.send_signal(signal.SIGKILL)
        await asyncio.wait_for(holder.wait(), 10)
        for _ in range(200):  # the server notices the closed socket at once
            try:
                async with store.lease("SIMFIRM"):
                    return
            except StoreError:
                await asyncio.sleep(0.05)
        raise AssertionError("the lease outlived its killed holder")
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_outbox_numbers_follow_commit_order_not_insert_order(
        store: PostgresStore, postgres_url: str) -> None:
    # A capture transaction of another process inserts first and commits
    # last; a second writer's capture and a publisher's read happen meanwhile.
    slow = await asyncpg.connect(postgres_url)
    try:
        transaction = slow.transaction()
        await transaction.start()
        await outbox.begin(slow)
        await writes.insert(slow, [make_fill(1)], T0)
        second = asyncio.create_task(store.insert_fills([make_fill(2)]))
        await asyncio.sleep(0.5)  # time enough to commit, were it not held up

        first = await store.outbox_batch(OutboxCursor(), 10)
        await transaction.commit()
        assert await second == 1
    finally:
        await slow.close()
    # The publisher, reading on from its cursor, passes over no row.
    later = await store.outbox_batch(first.cursor, 10)
    delivered = [fill.order_id for fill in [*first.fills, *later.fills]]
    assert delivered == ["order-1", "order-2"]


async def test_a_rolled_back_capture_leaves_nothing_behind(store: PostgresStore) -> None:
    with pytest.raises(StoreError):
        await store.insert_fills([make_fill(1), make_fill(2, account=None)])
    assert await store.insert_fills([make_fill(3)]) == 1
    batch = await store.outbox_batch(OutboxCursor(), 10)
    assert [fill.order_id for fill in batch.fills] == ["order-3"]
    assert await store._value("SELECT count(*) FROM fills") == 1


async def test_a_large_batch_goes_in_by_copy_and_absorbs_duplicates(store: PostgresStore) -> None:
    fills = [make_fill(n) for n in range(writes.ROWS_BY_COPY * 3)]
    assert await store.insert_fills(fills) == len(fills)
    assert await store.insert_fills([*fills, make_fill(10_000)]) == 1
    sideless = [make_fill(n, side=None) for n in range(20_000, 20_000 + writes.ROWS_BY_COPY)]
    assert await store.insert_fills(sideless) == len(sideless)
    assert await store.insert_fills([make_fill(n) for n in range(
        20_000, 20_000 + writes.ROWS_BY_COPY)]) == 0  # duplicates that know the side
    assert await store.sideless_orders() == set()


async def test_backup_is_a_pg_dump_of_the_store(
        store: PostgresStore, tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    await store.insert_fills([make_fill(n) for n in range(5)])
    target = tmp_path / "fills.pgdump"
    await store.backup(target)
    assert target.stat().st_mode & 0o777 == 0o600
    restore = await asyncio.create_subprocess_exec(
        "pg_restore", "--list", str(target), stdout=asyncio.subprocess.PIPE)
    listing, _ = await restore.communicate()
    assert restore.returncode == 0
    assert "TABLE DATA public fills" in listing.decode()


async def test_account_activity_counts_are_integers(store: PostgresStore) -> None:
    # sum() of a bigint is a numeric in PostgreSQL: the API's JSON needs ints.
    await store.insert_fills([make_fill(n) for n in range(3)])
    account = make_fill(0).account
    await store.add_user("alice", [account])
    [activity] = await store.account_activity("alice")
    counts = (activity.fills, activity.volume, activity.busted)
    assert [type(value) for value in counts] == [int, int, int]
    assert activity.fills == 3


async def test_a_users_recorded_summary_rows_are_read_through_the_owner(
        store: PostgresStore) -> None:
    await store.insert_fills([make_fill(1)])
    await store.add_user("alice", [make_fill(1).account])
    assert await store.summary_rows(FillQuery(user="alice"), None, None) == []
