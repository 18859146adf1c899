"""An online backup of a store tens of MB large, copied in steps while the daemon's
own store object goes on committing fills: the commits are not held up for the
copy, and the copy is the consistent store of the moment the backup began."""

from __future__ import annotations

import asyncio
import glob
import os
import sqlite3
import time
from pathlib import Path

from fillcapture.store._sqlite import SqliteStore
from tests.store.factories import make_fill

BATCH = 20_000
BATCHES = 12  # 240,000 fills: about 60 MB


async def test_fills_commit_while_a_large_backup_runs(tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    async with SqliteStore(db) as store:
        for batch in range(BATCHES):
            await store.insert_fills([make_fill(batch * BATCH + n) for n in range(BATCH)])
        before = await store.count_fills()
        size_mb = sum(os.stat(p).st_size for p in glob.glob(f"{db}*")) / 1e6

        started = time.monotonic()
        backup = asyncio.create_task(store.backup(tmp_path / "copy.db"))
        while not glob.glob(f"{tmp_path}/copy.db*partial*"):  # the copy has begun
            await asyncio.sleep(0.001)
        begun = time.monotonic() - started
        commits: list[float] = []  # when each commit returned, seconds into the backup
        other = sqlite3.connect(db, timeout=5, isolation_level=None)
        n = 10_000_000
        longest = 0.0  # the longest a commit waited
        while not backup.done():
            n += 1
            asked = time.monotonic()
            assert await store.insert_fills([make_fill(n)]) == 1  # the daemon's own path
            # and another connection (another process's, as far as SQLite knows)
            other.execute("INSERT INTO daemon_state (instance, key, value) VALUES (?, ?, ?)",
                          ("other", str(n), "x"))
            commits.append(time.monotonic() - started)
            longest = max(longest, time.monotonic() - asked)
            await asyncio.sleep(0)
        await backup
        took = time.monotonic() - started
        other.close()
        after = await store.count_fills()

    during = [at for at in commits if at < took]
    print(f"store {size_mb:.0f} MB, {before} fills; backup took {took:.2f} s (copying "
          f"from {begun:.3f} s); {len(during)} commits while it ran, the longest "
          f"waiting {longest * 1000:.1f} ms")
    assert size_mb > 30
    assert len(during) >= 5
    assert longest < (took - begun) / 2
    assert after == before + len(commits)
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        # One moment of the store, early in the copy: k of the loop's fills, and
        # the other connection's row of each but perhaps the last; none later.
        fills = copy.execute("SELECT count(*) FROM fills").fetchone()[0] - before
        rows = copy.execute(
            "SELECT count(*) FROM daemon_state WHERE instance = 'other'").fetchone()[0]
    print(f"the copy holds {fills} of the {len(commits)} fills committed meanwhile")
    assert 0 <= fills < len(during) / 2
    assert rows in (fills, fills - 1)
