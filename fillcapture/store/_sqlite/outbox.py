"""The SQLite engine's outbox role: stored rows in commit order, publishers' places.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fillcapture.store._sqlite.plumbing import Plumbing
from fillcapture.store._sqlite.rows import (
    from_micros,
    stored_fill,
    utc_micros,
)
from fillcapture.store._sqlite.selects import FILL_COLUMNS, OWNER
from fillcapture.store.records import (
    Outbox,
    OutboxBatch,
    OutboxCursor,
)
from fillcapture.store.roles import OutboxReading
from fillcapture.store.rules import publishable

# The outbox reads by row id, which is commit order; the owner is the current one.
_OUTBOX_FILLS = (
    f"SELECT f.id, {OWNER}, {FILL_COLUMNS} FROM fills f "  # noqa: S608 - constant text
    "WHERE f.id > :after ORDER BY f.id LIMIT :limit"
)


# A bust whose fill is gone (pruned) has nothing to publish: the join drops it.
_OUTBOX_BUSTS = (
    f"SELECT b.id, f.id, b.busted_at, {OWNER}, {FILL_COLUMNS} "  # noqa: S608 - constant text
    "FROM busts b JOIN fills f ON f.firm = b.firm AND f.order_id = b.order_id "
    "AND f.trade_key = b.trade_key AND f.leg_index = b.leg_index "
    "WHERE b.id > :after ORDER BY b.id LIMIT :limit"
)


class OutboxRole(Plumbing):
    """The publishers' outbox."""

    async def outbox(self, name: str) -> Outbox:
        """Where the publisher ``name`` saved its place (the start if never),
        with the floors deletes set since and the newest row ids now."""
        async with self._reading() as conn:
            rows = list(await conn.execute_fetchall(
                "SELECT fills, busts, fills_floor, busts_floor FROM outbox WHERE name = ?",
                (name,)))
            ((fills, busts),) = await conn.execute_fetchall(
                "SELECT (SELECT coalesce(max(id), 0) FROM fills), "
                "(SELECT coalesce(max(id), 0) FROM busts)")
        newest = OutboxCursor(fills, busts)
        if not rows:
            return Outbox(OutboxCursor(), newest)
        row = rows[0]
        return Outbox(OutboxCursor(row[0], row[1]), newest, row[2], row[3])

    async def outbox_batch(self, after: OutboxCursor, limit: int) -> OutboxBatch:
        """Up to ``limit`` fills and busts committed after ``after``, in commit
        order. A bust whose fill is beyond this batch waits, and the busts after
        it with it: a consumer never sees a bust before its fill."""
        async with self._reading() as conn:
            fill_rows = list(await conn.execute_fetchall(
                _OUTBOX_FILLS, {"after": after.fills, "limit": limit}))
            last_fill = fill_rows[-1][0] if fill_rows else after.fills
            bust_rows = list(await conn.execute_fetchall(
                _OUTBOX_BUSTS, {"after": after.busts, "limit": limit}))
        ready = publishable([(row[1], row) for row in bust_rows], last_fill)
        busts = [(stored_fill(row[3:]), from_micros(row[2])) for row in ready]
        last_bust = ready[-1][0] if ready else after.busts
        return OutboxBatch([stored_fill(row[1:]) for row in fill_rows], busts,
                           OutboxCursor(last_fill, last_bust))

    async def save_outbox(self, name: str, cursor: OutboxCursor,
                          seen: Outbox | None = None) -> None:
        """Save the publisher ``name``'s place; with ``seen``, clear the floors
        read there unless a delete has set them again since (compare and clear)."""
        fills_floor = None if seen is None else seen.fills_floor
        busts_floor = None if seen is None else seen.busts_floor
        async with self._writing() as conn:
            await conn.execute(
                "INSERT INTO outbox (name, fills, busts, saved_at) "
                "VALUES (:name, :fills, :busts, :now) "
                "ON CONFLICT (name) DO UPDATE SET fills = excluded.fills, "
                "busts = excluded.busts, saved_at = excluded.saved_at, "
                "fills_floor = CASE WHEN fills_floor IS :fills_floor THEN NULL "
                "ELSE fills_floor END, "
                "busts_floor = CASE WHEN busts_floor IS :busts_floor THEN NULL "
                "ELSE busts_floor END",
                {"name": name, "fills": cursor.fills, "busts": cursor.busts,
                 "now": utc_micros(datetime.now(UTC)),
                 "fills_floor": fills_floor, "busts_floor": busts_floor})

    @asynccontextmanager
    async def outbox_reader(self) -> AsyncIterator[OutboxReading]:
        """A read-only store on the same file for the block: its own connection,
        so reading the outbox never waits for the capture path's lock."""
        async with type(self)(self.path, readonly=True) as reader:
            yield reader
