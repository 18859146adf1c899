"""T4's snapshot counts as they arrive (the first half of reconcile
certificates): each account's latest snapshot per trade date.

``fills_mark`` is the outbox number (the id, :mod:`.outbox`) of the newest
fill stored before the snapshot: the capture transaction stores its fills
first, so the batch's own fills count as before the snapshot, as in the
SQLite engine, and fills stored later as after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from fillcapture.model import SnapshotReceived

_MARK = "(SELECT coalesce(max(id), 0) FROM fills)"

# A snapshot's first frame replaces what was recorded of its dates, mark and
# time included; a later frame of it updates the counts only.
_FIRST_FRAME = (
    "INSERT INTO snapshot_counts (firm, account, trade_date, account_id, fills, received_at, "  # noqa: S608
    f"fills_mark) VALUES ($1, $2, $3, $4, $5, $6, {_MARK}) "
    "ON CONFLICT (firm, account, trade_date) DO UPDATE SET account_id = excluded.account_id, "
    "fills = excluded.fills, received_at = excluded.received_at, "
    "fills_mark = excluded.fills_mark"
)
_LATER_FRAME = (
    "INSERT INTO snapshot_counts (firm, account, trade_date, account_id, fills, received_at, "  # noqa: S608
    f"fills_mark) VALUES ($1, $2, $3, $4, $5, $6, {_MARK}) "
    "ON CONFLICT (firm, account, trade_date) DO UPDATE SET fills = excluded.fills"
)


async def save(conn: asyncpg.Connection, snapshots: Sequence[SnapshotReceived],
               now: datetime) -> None:
    """Inside the capture transaction, after its rows are stored."""
    for snapshot in snapshots:
        if not snapshot.account:
            continue  # no number: nobody can own it
        sql = _FIRST_FRAME if snapshot.first else _LATER_FRAME
        await conn.executemany(sql, [
            (snapshot.firm, snapshot.account, day, snapshot.account_id, fills, now)
            for day, fills in snapshot.trade_dates])
