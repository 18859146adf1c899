"""SQL the engine's roles share: side-less fills, distinct values, and the
invalidation of recorded summaries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import aiosqlite

from fillcapture.store._sqlite.rows import (
    utc_micros,
)
from fillcapture.store.rules import covered_after_change

# A fill whose order's side is unknown (fills_sideless): a leg's own side
# follows from the order's, so a pending leg whose order side is known waits
# for its spread's definition instead.
SIDELESS = "side IS NULL AND (kind <> 1 OR order_side IS NULL)"


# The distinct values of an index's leading column, one index probe each
# (a loose index scan): a handful of firms or accounts among millions of rows.
DISTINCT = (
    "WITH RECURSIVE v(value) AS ("
    "SELECT (SELECT min({column}) FROM fills) "
    "UNION ALL SELECT (SELECT min({column}) FROM fills WHERE {column} > v.value) "
    "FROM v WHERE v.value IS NOT NULL) "
    "SELECT value FROM v WHERE value IS NOT NULL"
)


async def invalidate_positions(conn: aiosqlite.Connection, firm: str, day: str) -> None:
    """Inside the caller's transaction: ``firm``'s fills of ``day`` changed, so
    positions recorded for it or later no longer hold."""
    cursor = await conn.execute(
        "DELETE FROM position_days WHERE firm = ? AND trade_date >= ?", (firm, day))
    if cursor.rowcount:
        await conn.execute(
            "DELETE FROM positions WHERE firm = ? AND trade_date >= ?", (firm, day))
    cursor = await conn.execute(
        "UPDATE summary_coverage SET through = ? WHERE firm = ? AND through >= ?",
        (covered_after_change(date.fromisoformat(day)).isoformat(), firm, day))
    if cursor.rowcount:
        await conn.execute(
            "DELETE FROM summary_rows WHERE firm = ? AND trade_date >= ?", (firm, day))
        await conn.execute(
            "DELETE FROM activity_days WHERE firm = ? AND trade_date >= ?", (firm, day))
    # Recorded even when nothing was deleted: a computation under way may be
    # about to record this day.
    await conn.execute(
        "INSERT INTO position_invalidations (firm, trade_date, at) VALUES (?, ?, ?)",
        (firm, day, utc_micros(datetime.now(UTC))))
