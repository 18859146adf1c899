"""Opening SQLite connections the way the store needs them, and running transactions.

A new file is private (0600, its directory 0700); an existing one is checked at every
connect (:func:`check_file`). Every connection gets WAL, ``synchronous=FULL`` and a busy
timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from fillcapture.files import UnsafeFile, create_private, keep_private, private_dirs
from fillcapture.store._sqlite.errors import store_error
from fillcapture.store.records import StoreError

SIDECARS = ("", "-wal", "-shm")

BUSY_TIMEOUT_MS = 5000
CACHE_KIB = 16384
CHECKPOINT_PAGES = 10000
JOURNAL_LIMIT_BYTES = 64 * 1024 * 1024
CHECKPOINT_BUSY_MS = 200


async def connect(path: Path, *, readonly: bool) -> aiosqlite.Connection:
    """An open connection in autocommit mode; transactions are explicit (:func:`transaction`).

    Read-only connections open the file with ``mode=ro``, so SQLite itself
    refuses writes, and never create it.
    """
    target, uri = _target(path, readonly=readonly)
    try:
        # isolation_level=None: Python's sqlite3 would otherwise open
        # deferred transactions behind our back; we want BEGIN IMMEDIATE.
        conn = await aiosqlite.connect(target, uri=uri, isolation_level=None)
    except sqlite3.Error as exc:
        raise store_error(path, exc, "cannot open") from exc
    try:
        await _configure(conn, path, readonly=readonly)
    except BaseException:
        await conn.close()
        raise
    return conn


class StoreRefused(StoreError):
    """The store file is one we must not use as it is (a symbolic link, another
    user's file readable by others): a restart cannot help, the operator must."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def check_file(path: Path) -> None:
    """Refuse a store path (or its -wal or -shm) that is a symbolic link or not a
    regular file; tighten a wider mode than 0600 of our own file, refuse another
    user's. SQLite follows links and keeps the mode it finds, so this runs first."""
    for suffix in SIDECARS:
        try:
            keep_private(path.with_name(path.name + suffix))
        except UnsafeFile as exc:
            raise StoreRefused(f"{exc.filename}: {exc.strerror}") from None
        except OSError as exc:
            raise StoreError(f"{exc.filename or path}: {exc.strerror or exc}") from None


def _target(path: Path, *, readonly: bool) -> tuple[str, bool]:
    """What to hand sqlite3.connect, and whether it is a URI."""
    check_file(path)
    if readonly:
        if not path.is_file():
            raise StoreError(f"{path}: no such store")
        return f"{path.resolve().as_uri()}?mode=ro", True
    try:
        _create_private(path)
    except StoreError as exc:
        if isinstance(exc.__cause__, OSError):  # classified: read-only, full, denied
            raise store_error(path, exc.__cause__, "cannot create") from exc.__cause__
        raise
    return str(path), False


def _create_private(path: Path) -> None:
    """Create the file 0600 (and its directories 0700) before SQLite does, since
    SQLite would create it world-readable under the usual umask. SQLite gives
    the -wal and -shm files the same mode as the database file."""
    if path.exists():
        return
    try:
        private_dirs(path.parent)
        fd = create_private(path)
    except FileExistsError:
        check_file(path)  # another process created it first; or a link appeared
        return
    except OSError as exc:
        raise StoreError(f"{path}: cannot create: {exc.strerror}") from exc
    os.close(fd)


async def _configure(conn: aiosqlite.Connection, path: Path, *, readonly: bool) -> None:
    try:
        # First, so that everything after it waits out another process's lock.
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        await conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            await conn.execute("PRAGMA query_only = ON")
            return
        await _switch_to_wal(conn, path)
        # FULL: in WAL mode NORMAL may lose the last commits on power loss,
        # and a fill counts as captured once its commit returns.
        await conn.execute("PRAGMA synchronous = FULL")
        # Fill identities (GUIDs) land at random places in the unique index,
        # so each commit dirties pages all over it. A larger cache and rarer
        # checkpoints (WAL up to ~40 MB) let repeated writes to the same pages
        # coalesce: about +30% inserts/s with random order ids, neutral otherwise.
        await conn.execute(f"PRAGMA cache_size = -{CACHE_KIB:d}")
        await conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES:d}")
        # A WAL grown by a burst (a long reader holding a checkpoint back)
        # shrinks back to this at its next reset, rather than keeping its peak
        # size on disk for good. Above the ~40 MB a WAL reaches between
        # checkpoints: a WAL cut below it at every reset regrows each time,
        # and appending to a growing file makes every commit's fsync dearer
        # (p50 receipt-to-commit +40 % at 1,000 fills/s with a 16 MiB limit).
        await conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_LIMIT_BYTES:d}")
    except sqlite3.Error as exc:
        raise store_error(path, exc, "cannot open") from exc


async def _switch_to_wal(conn: aiosqlite.Connection, path: Path) -> None:
    """WAL mode, which persists in the file once set. On a new file opened by
    several processes at once, SQLite may answer SQLITE_BUSY at once instead of
    calling the busy handler (to avoid a deadlock), so retry for the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                row = await cursor.fetchone()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)
    if row is None or str(row[0]).lower() != "wal":
        raise StoreError(f"{path}: cannot switch to WAL journal mode (got {row})")


@asynccontextmanager
async def transaction(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """One write transaction: committed if the block completes, else rolled back.

    IMMEDIATE takes the write lock up front, so a second process waits on the
    busy timeout instead of failing when a read would have to become a write.
    """
    begin = asyncio.ensure_future(conn.execute("BEGIN IMMEDIATE"))
    try:
        await asyncio.shield(begin)
    except asyncio.CancelledError:
        # The BEGIN runs on in aiosqlite's thread regardless: let it finish and
        # undo it, or the connection would stay inside a transaction for good.
        with contextlib.suppress(Exception):
            await begin
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
        raise
    try:
        yield
    except BaseException:
        # SQLite rolls back by itself after some errors (e.g. disk full); a
        # failing ROLLBACK must not hide the error that caused it.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
