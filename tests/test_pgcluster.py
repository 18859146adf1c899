"""The throwaway PostgreSQL cluster the store tests run against: it starts,
hands out databases that take their own password and no other, runs as an
unprivileged user and leaves nothing behind when stopped."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.pgcluster import PostgresCluster, running

# How asyncpg reports a session the server ended: at once, or on next use.
CLOSED = (asyncpg.ConnectionDoesNotExistError, asyncpg.AdminShutdownError,
          asyncpg.InterfaceError)


def owner_uid(pid: int) -> int | None:
    """The real uid of ``pid``; ``None`` if it has exited meanwhile (a
    backend or worker the server started and ended since it was listed)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid in /proc/{pid}/status")


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


async def test_a_new_database_takes_its_own_password(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        user, database = await conn.fetchrow("SELECT current_user, current_database()")
        await conn.execute("CREATE TABLE t (x int)")  # the role owns its database's schema
        await conn.execute("INSERT INTO t VALUES (1)")
        assert await conn.fetchval("SELECT count(*) FROM t") == 1
    finally:
        await conn.close()
    assert user == database == urlsplit(postgres_url).path.lstrip("/")


async def test_a_wrong_password_is_refused(postgres_url: str) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(with_password(postgres_url, "not-the-password"))


async def test_each_test_gets_an_empty_database_of_its_own(
        postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    other = postgres_cluster.database()
    conn = await asyncpg.connect(other)
    try:
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    finally:
        await conn.close()
    assert other != postgres_url
    postgres_cluster.drop(other)


def test_the_server_runs_as_an_unprivileged_user(postgres_cluster: PostgresCluster) -> None:
    pids = postgres_cluster.pids()
    assert len(pids) > 1  # the postmaster and its background workers
    owners = {pid: owner_uid(pid) for pid in pids}
    assert owners[pids[0]] is not None  # the postmaster
    assert all(uid != 0 for uid in owners.values()), owners
    assert os.stat(postgres_cluster.data).st_uid != 0


async def test_terminate_ends_the_sessions_of_a_database(
        postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    conns = [await asyncpg.connect(postgres_url) for _ in range(2)]
    assert await asyncio.to_thread(postgres_cluster.terminate, postgres_url) == 2
    for conn in conns:
        with pytest.raises(CLOSED):
            await conn.fetchval("SELECT 1")
        await conn.close()


async def test_a_restart_keeps_what_was_committed(
        postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    await conn.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
    await asyncio.to_thread(postgres_cluster.restart)
    with pytest.raises(CLOSED):
        await conn.fetchval("SELECT 1")
    await conn.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT x FROM t") == 7
    finally:
        await conn.close()


def test_stop_removes_the_directory_and_the_processes() -> None:
    with PostgresCluster() as cluster:
        directory, pids = cluster.root, cluster.pids()
        assert directory.is_dir()
        assert pids
        assert cluster.startup_seconds < 30
        cluster.stop()
        assert not directory.exists()
        assert [pid for pid in pids if running(pid)] == []
        cluster.stop()  # a second stop (and the one on leaving) does nothing
