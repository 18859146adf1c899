"""SQL the engine's roles share: side-less fills and the invalidation of
recorded summaries.
"""

from __future__ import annotations

from datetime import date

import asyncpg

from fillcapture.store._postgres import locks
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

# The latest trade date the firm ($1) has sealed or recorded positions or
# rows of (NULL if none).
RECORDED_THROUGH = (
    "SELECT greatest((SELECT max(trade_date) FROM sealed_days WHERE firm = $1), "
    "(SELECT through FROM summary_coverage WHERE firm = $1), "
    "(SELECT max(trade_date) FROM position_days WHERE firm = $1))"
)


def count(status: str) -> int:
    """The row count a command's status ends with (``DELETE 3``, ``INSERT 0 3``)."""
    return int(status.rsplit(" ", 1)[-1])


async def lock_summaries(conn: asyncpg.Connection, firm: str) -> None:
    """Hold ``firm``'s summary lock (:data:`locks.SUMMARIES`) until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", locks.SUMMARIES, firm)


async def invalidate_positions(conn: asyncpg.Connection, firm: str, day: date) -> None:
    """Inside the caller's transaction: ``firm``'s fills of ``day`` changed, so
    positions recorded for it or later no longer hold."""
    await lock_summaries(conn, firm)
    if count(await conn.execute(
            "DELETE FROM position_days WHERE firm = $1 AND trade_date >= $2", firm, day)):
        await conn.execute("DELETE FROM positions WHERE firm = $1 AND trade_date >= $2",
                           firm, day)
    if count(await conn.execute(
            "UPDATE summary_coverage SET through = $3 WHERE firm = $1 AND through >= $2",
            firm, day, covered_after_change(day))):
        await conn.execute("DELETE FROM summary_rows WHERE firm = $1 AND trade_date >= $2",
                           firm, day)
        await conn.execute("DELETE FROM activity_days WHERE firm = $1 AND trade_date >= $2",
                           firm, day)
    # Recorded even when nothing was deleted: a computation under way may be
    # about to record this day.
    await conn.execute(
        "INSERT INTO position_invalidations (firm, trade_date, at) VALUES ($1, $2, now())",
        firm, day)
