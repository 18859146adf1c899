"""Online backups of a SQLite store: copied in steps, beside the store's writers.

The copy runs on a connection of its own, never the store's shared one, so
the daemon's commits do not wait for it. That connection holds one read
transaction for the whole copy: in WAL mode a reader blocks no writer, and
SQLite's backup of a source in an open read transaction copies that snapshot
and is not restarted by other connections' commits (a backup outside one
starts again after every commit, and under a steady capture never ends). The
copy goes :data:`STEP_PAGES` pages at a time with a :data:`STEP_PAUSE` between
steps, so a large store's copy shares the disk rather than monopolising it.
The copy is written in a private staging file and renamed into place
(:func:`fillcapture.files.staged`).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import aiosqlite

from fillcapture.files import staged
from fillcapture.store._sqlite.connection import connect
from fillcapture.store.records import StoreError

STEP_PAGES = 1024
"""Pages copied per step: 4 MiB at SQLite's default page size."""

STEP_PAUSE = 0.005
"""Seconds between two steps, on the copying thread (the event loop runs on)."""


def _pause(_status: int, _remaining: int, _total: int) -> None:
    time.sleep(STEP_PAUSE)


async def backup(source: Path, destination: Path) -> None:
    """A consistent copy of the store at ``source`` as ``destination`` (0600)."""
    with staged(destination) as partial:
        conn = await connect(source, readonly=True)
        try:
            # The snapshot every step copies from: one read transaction.
            await conn.execute("BEGIN")
            await conn.execute_fetchall("SELECT count(*) FROM sqlite_master")
            target = await aiosqlite.connect(partial)
            try:
                await conn.backup(target, pages=STEP_PAGES, progress=_pause)
            finally:
                await target.close()
            await conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{source}: backup to {destination} failed: {exc}") from exc
        finally:
            await conn.close()
