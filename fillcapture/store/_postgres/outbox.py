"""The PostgreSQL engine's outbox role: stored rows in commit order, publishers' places.

Commit order across processes. A publisher moves its cursor past the
rows it delivered, so a row must never commit with a smaller number than
one already visible: it would be passed over for good. The number is the
row's id (``fills.id``, ``busts.id``, identity columns of sequence cache 1),
and every transaction that inserts fills or busts first takes the
transaction-level advisory lock ``(locks.NAMESPACE, locks.OUTBOX)``
(:func:`begin`, the first statement of a capture transaction), holding it
until it commits or rolls back. The next holder starts inserting only after
the previous one has committed, so every id it draws is greater than every
id already committed and none smaller can commit after: ids are in commit
order, and a cursor is the last id a publisher took. A rolled-back
transaction (or a duplicate absorbed by ``ON CONFLICT``) leaves a gap in
the ids, never a row behind.

Why not number at commit time: numbering the new rows just before the
commit is an ``UPDATE`` of every new row (a second row version of each,
its index entries, its WAL), and halved the capture rate. Holding the lock
for the whole transaction costs nothing with one writer per store (the
lease's normal case) and serialises writers when there are several, as
SQLite's single writer does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from fillcapture.store._postgres import locks
from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.rows import stored_fill
from fillcapture.store._postgres.selects import FILL_COLUMNS, OWNED, OWNER
from fillcapture.store.records import Outbox, OutboxBatch, OutboxCursor
from fillcapture.store.roles import OutboxReading
from fillcapture.store.rules import publishable

_OUTBOX_FILLS = (
    f"SELECT f.id, {OWNER}, {FILL_COLUMNS} FROM fills f{OWNED} "  # noqa: S608 - constant text
    "WHERE f.id > $1 ORDER BY f.id LIMIT $2"
)

# A bust whose fill is gone (pruned) has nothing to publish: the join drops it.
_OUTBOX_BUSTS = (
    f"SELECT b.id, f.id, b.busted_at, {OWNER}, {FILL_COLUMNS} "  # noqa: S608 - constant
    "FROM busts b JOIN fills f ON f.firm = b.firm AND f.order_id = b.order_id "
    f"AND f.trade_key = b.trade_key AND f.leg_index = b.leg_index{OWNED} "
    "WHERE b.id > $1 ORDER BY b.id LIMIT $2"
)

_NEWEST = (
    "SELECT (SELECT coalesce(max(id), 0) FROM fills), "
    "(SELECT coalesce(max(id), 0) FROM busts)"
)


BEGIN = f"BEGIN; SELECT pg_advisory_xact_lock({locks.NAMESPACE}, {locks.OUTBOX})"
"""A capture transaction's start, in one round trip: it holds the outbox lock
until it ends (see the module's docstring)."""


async def begin(conn: asyncpg.Connection) -> None:
    """Hold the outbox lock until the caller's transaction ends; call it
    before the transaction inserts any fill or bust (see the module's docstring)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", locks.NAMESPACE, locks.OUTBOX)


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
