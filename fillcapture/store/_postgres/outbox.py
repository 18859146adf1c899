"""The PostgreSQL engine's outbox role: stored rows in commit order, publishers' places.

Commit order across processes. Row ids (``fills.id``, ``busts.id``) are
handed out at insert time, so with several writers a smaller id may commit
after a larger one, and a publisher moving its cursor past the larger would
pass over the smaller for good. So every row also gets an ``outbox`` number,
handed out at commit time: the writing transaction, just before it commits,
takes the transaction-level advisory lock ``(locks.NAMESPACE, locks.OUTBOX)``
and, holding it, numbers its own new rows (the only rows without a number
it can see) from the sequences ``fills_outbox`` and ``busts_outbox``, in id
order. The lock is released only once the commit is visible, so the next
writer's numbers are greater than every number already committed: numbers
are in commit order, and a cursor is the last number a publisher took. A
rolled-back transaction leaves a gap in the numbers, never a row behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from fillcapture.store._postgres import locks
from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.rows import stored_fill
from fillcapture.store._postgres.selects import FILL_COLUMNS, OWNER
from fillcapture.store.records import Outbox, OutboxBatch, OutboxCursor
from fillcapture.store.roles import OutboxReading
from fillcapture.store.rules import publishable

# One statement per table: count this transaction's unnumbered rows, take
# that many numbers from the sequence at once (setval is safe: only a holder
# of the lock takes numbers), and give them out in id order.
_NUMBER = (
    "WITH todo AS (SELECT id, row_number() OVER (ORDER BY id) AS k "
    "FROM {table} WHERE outbox IS NULL), "
    "block AS (SELECT setval('{table}_outbox', nextval('{table}_outbox') "
    "+ (SELECT count(*) FROM todo) - 1) - (SELECT count(*) FROM todo) AS base "
    "WHERE EXISTS (SELECT 1 FROM todo)) "
    "UPDATE {table} t SET outbox = block.base + todo.k FROM todo, block WHERE t.id = todo.id"
)
_NUMBER_FILLS = _NUMBER.format(table="fills")
_NUMBER_BUSTS = _NUMBER.format(table="busts")

_OUTBOX_FILLS = (
    f"SELECT f.outbox, {OWNER}, {FILL_COLUMNS} FROM fills f "  # noqa: S608 - constant text
    "WHERE f.outbox > $1 ORDER BY f.outbox LIMIT $2"
)

# A bust whose fill is gone (pruned) has nothing to publish: the join drops it.
_OUTBOX_BUSTS = (
    f"SELECT b.outbox, f.outbox, b.busted_at, {OWNER}, {FILL_COLUMNS} "  # noqa: S608 - constant
    "FROM busts b JOIN fills f ON f.firm = b.firm AND f.order_id = b.order_id "
    "AND f.trade_key = b.trade_key AND f.leg_index = b.leg_index "
    "WHERE b.outbox > $1 ORDER BY b.outbox LIMIT $2"
)

_NEWEST = (
    "SELECT (SELECT coalesce(max(outbox), 0) FROM fills), "
    "(SELECT coalesce(max(outbox), 0) FROM busts)"
)


async def number(conn: asyncpg.Connection) -> None:
    """Number this transaction's new fills and busts for the outbox; call it
    last before the commit (the lock it takes is held until then)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", locks.NAMESPACE, locks.OUTBOX)
    await conn.execute(_NUMBER_FILLS)
    await conn.execute(_NUMBER_BUSTS)


class OutboxRole(Plumbing):
    """The publishers' outbox."""

    async def outbox(self, name: str) -> Outbox:
        """Where the publisher ``name`` saved its place (the start if never),
        with the floors deletes set since and the newest numbers now."""
        async with self.snapshot() as conn:
            row = await conn.fetchrow(
                "SELECT fills, busts, fills_floor, busts_floor FROM outbox WHERE name = $1",
                name)
            fills, busts = await conn.fetchrow(_NEWEST)
        newest = OutboxCursor(fills, busts)
        if row is None:
            return Outbox(OutboxCursor(), newest)
        return Outbox(OutboxCursor(row[0], row[1]), newest, row[2], row[3])

    async def outbox_batch(self, after: OutboxCursor, limit: int) -> OutboxBatch:
        """Up to ``limit`` fills and busts committed after ``after``, in commit
        order. A bust whose fill is beyond this batch waits, and the busts after
        it with it: a consumer never sees a bust before its fill."""
        async with self.snapshot() as conn:
            fill_rows = list(await conn.fetch(_OUTBOX_FILLS, after.fills, limit))
            last_fill = fill_rows[-1][0] if fill_rows else after.fills
            bust_rows = list(await conn.fetch(_OUTBOX_BUSTS, after.busts, limit))
        ready = publishable([(row[1], row) for row in bust_rows], last_fill)
        busts = [(stored_fill(row[3:]), row[2]) for row in ready]
        last_bust = ready[-1][0] if ready else after.busts
        return OutboxBatch([stored_fill(row[1:]) for row in fill_rows], busts,
                           OutboxCursor(last_fill, last_bust))

    async def save_outbox(self, name: str, cursor: OutboxCursor,
                          seen: Outbox | None = None) -> None:
        """Save the publisher ``name``'s place; with ``seen``, clear the floors
        read there unless a delete has set them again since (compare and clear)."""
        fills_floor = None if seen is None else seen.fills_floor
        busts_floor = None if seen is None else seen.busts_floor
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO outbox AS o (name, fills, busts, saved_at) "
                "VALUES ($1, $2, $3, now()) "
                "ON CONFLICT (name) DO UPDATE SET fills = excluded.fills, "
                "busts = excluded.busts, saved_at = excluded.saved_at, "
                "fills_floor = CASE WHEN o.fills_floor IS NOT DISTINCT FROM $4::bigint "
                "THEN NULL ELSE o.fills_floor END, "
                "busts_floor = CASE WHEN o.busts_floor IS NOT DISTINCT FROM $5::bigint "
                "THEN NULL ELSE o.busts_floor END",
                name, cursor.fills, cursor.busts, fills_floor, busts_floor)

    @asynccontextmanager
    async def outbox_reader(self) -> AsyncIterator[OutboxReading]:
        """This store: each read borrows a connection of the pool, so reading
        the outbox never holds up the capture path."""
        yield self
