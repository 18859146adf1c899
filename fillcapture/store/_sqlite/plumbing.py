"""The SQLite engine's plumbing: the shared connection, its lock, readers of their own.

Every role class of the engine builds on :class:`Plumbing`; nothing here knows a table.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from fillcapture.store._sqlite import lease, migrations
from fillcapture.store._sqlite.connection import (
    connect,
    transaction,
)
from fillcapture.store._sqlite.errors import store_error
from fillcapture.store.lease import LeaseHeld, Waiting
from fillcapture.store.records import (
    StoreError,
)


class Plumbing:
    """A store in one SQLite file: the shared connection and how the roles use it.

    ``readonly`` opens the file read-only: it must exist with a current schema,
    and every write raises :class:`StoreError`. Safe to share between tasks:
    operations on the shared connection are serialised by a lock.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._readers: set[aiosqlite.Connection] = set()
        # The connection was dropped after an outage; the next use reopens it.
        self._dropped = False

    def __repr__(self) -> str:
        mode = "ro" if self.readonly else "rw"
        return f"<SqliteStore {self.path} {mode}{'' if self._conn else ' closed'}>"

    async def __aenter__(self) -> Self:
        if self._conn is not None:
            return self
        self._conn = await self._open()
        return self

    async def _open(self) -> aiosqlite.Connection:
        """A connection with the schema current (migrated, or checked if read-only)."""
        conn = await connect(self.path, readonly=self.readonly)
        try:
            if self.readonly:
                await migrations.require_current(conn, self.path)
            else:
                await migrations.migrate(conn, self.path)
            # Reading the schema finds a damaged first page now, not at the first query.
            await conn.execute_fetchall("SELECT count(*) FROM sqlite_master")
        except sqlite3.Error as exc:
            await conn.close()
            raise store_error(self.path, exc, "cannot prepare the schema") from exc
        except BaseException:
            await conn.close()
            raise
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the store and any ``fills()`` stream still open; idempotent."""
        for reader in list(self._readers):
            await reader.close()
        self._readers.clear()
        conn, self._conn = self._conn, None
        self._dropped = False
        if conn is not None:
            async with self._lock:
                await conn.close()

    def lease(self, instance: str, *, waiting: Waiting | None = None,
              check_seconds: float = 1.0) -> AbstractAsyncContextManager[LeaseHeld]:
        """The lease of ``instance``: a lock file beside the store (see
        ``_sqlite/lease.py``); the kernel's lock is never lost, so never checked."""
        return lease.hold(self.path, instance, waiting)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """The shared connection for a short read, sqlite3 errors as StoreError.

        After an outage (a full disk, a read-only file system) the connection
        is dropped, which frees its -wal and -shm files (and lets an operator
        remount the file system), and opened afresh by the next call."""
        if self._conn is None and not self._dropped:
            raise StoreError(f"{self.path}: store is not open")
        # Under the lock: a read must not see another task's open transaction.
        async with self._lock:
            if self._conn is None:
                self._conn = await self._open()
                self._dropped = False
            conn = self._conn
            try:
                yield conn
            except sqlite3.Error as exc:
                error = store_error(self.path, exc)
                if error.outage:
                    self._conn, self._dropped = None, True
                    with contextlib.suppress(sqlite3.Error):
                        await conn.close()
                raise error from exc

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction on the shared connection."""
        self._check_writable()
        async with self._reading() as conn, transaction(conn):
            yield conn

    def _check_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path}: store is open read-only")

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._reading() as conn:
            return list(await conn.execute_fetchall(sql, params))

    @asynccontextmanager
    async def _own_reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection for one longer read, sqlite3 errors as StoreError."""
        if self._conn is None and not self._dropped:
            raise StoreError(f"{self.path}: store is not open")
        reader = await connect(self.path, readonly=True)
        try:
            yield reader
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc
        finally:
            await reader.close()


async def scalar(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> int:
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0
