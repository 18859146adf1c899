"""The SQLite engine's capture role: a writer batch in one transaction, or
one kind of write at a time (each its own transaction).

The writes themselves are in :mod:`.writes`; this module decides only what
runs in which transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fillcapture.model import (
    Bust,
    Fill,
    Market,
    OrderRecount,
    OrderSide,
    Quarantined,
    SnapshotReceived,
    SpreadDefinition,
    VisibleAccount,
)
from fillcapture.store._sqlite import certificates, quarantine, spreads, writes
from fillcapture.store._sqlite.plumbing import Plumbing
from fillcapture.store._sqlite.rows import utc_micros
from fillcapture.store._sqlite.shared import invalidate_positions
from fillcapture.store.records import CaptureBatch, CaptureResult


def _now() -> int:
    return utc_micros(datetime.now(UTC))


class CaptureRole(Plumbing):
    """What the writer commits."""

    async def capture(self, batch: CaptureBatch) -> CaptureResult:
        """Commit ``batch`` in one transaction, its parts in the order
        :class:`CaptureBatch` gives; an empty batch opens no transaction."""
        self._check_writable()
        result = CaptureResult()
        if not batch:
            return result
        now = _now()
        async with self._writing() as conn:
            for firm, accounts in batch.accounts:
                if accounts:
                    await quarantine.save_accounts(conn, firm, accounts, datetime.now(UTC))
            if batch.quarantine:
                result.quarantined = await quarantine.insert(conn, batch.quarantine)
            if batch.markets:
                result.markets = await writes.save_markets(conn, batch.markets, now)
            if batch.spreads:
                result.spreads, result.legs_placed = await spreads.save(
                    conn, batch.spreads, now, invalidate_positions)
            if batch.late_fills or batch.late_busts:
                result.amended_fills, result.amended_busts = await writes.insert_amendments(
                    conn, batch.late_fills, batch.late_busts, now)
            if batch.fills:
                result.new_fills = await writes.insert(conn, batch.fills, now)
            if batch.recovered:
                result.recovered = await writes.insert(conn, batch.recovered, now)
            if batch.busts:
                result.fills_from_busts, result.new_busts = await writes.insert_busts(
                    conn, batch.busts, now)
            if batch.sides:
                result.sides_resolved = await writes.resolve_sides(conn, batch.sides)
            for recount in batch.recounts:
                result.recount_busts.append(await writes.bust_missing(conn, recount, now))
            for stored, unowned in batch.released:
                result.released.append((
                    await quarantine.resolve(conn, stored, "stored", datetime.now(UTC))
                    if stored else 0,
                    await quarantine.resolve(conn, unowned, "unowned", datetime.now(UTC))
                    if unowned else 0))
            if batch.snapshots:
                await certificates.save_snapshots(conn, batch.snapshots, now)
        return result

    async def insert_fills(self, fills: Sequence[Fill]) -> int:
        """Store ``fills`` in one transaction; return how many were new.

        Duplicates (same identity) are absorbed; a duplicate that knows the side
        fills in a stored fill's missing side without counting as new.
        """
        return (await self.capture(CaptureBatch(fills=fills))).new_fills

    async def insert_busts(self, busts: Sequence[Bust]) -> tuple[int, int]:
        """Record busts (see :func:`.writes.insert_busts`); (new fills, new busts)."""
        result = await self.capture(CaptureBatch(busts=busts))
        return result.fills_from_busts, result.new_busts

    async def resolve_sides(self, items: Sequence[OrderSide]) -> int:
        """Set the side of each order's side-less fills; return rows changed."""
        return (await self.capture(CaptureBatch(sides=items))).sides_resolved

    async def save_markets(self, markets: Sequence[Market]) -> int:
        """Record markets' terms; a row changes only when a term did."""
        return (await self.capture(CaptureBatch(markets=markets))).markets

    async def save_spreads(self, definitions: Sequence[SpreadDefinition]) -> tuple[int, int]:
        """Record spreads' legs (a definition as recorded changes nothing) and
        place their pending leg fills."""
        result = await self.capture(CaptureBatch(spreads=definitions))
        return result.spreads, result.legs_placed

    async def quarantine(self, records: Sequence[Quarantined]) -> int:
        """Keep records that could not be stored; returns how many were new
        (the same record sent again is kept once)."""
        return (await self.capture(CaptureBatch(quarantine=records))).quarantined

    async def resolve_quarantined(self, ids: Sequence[int], resolution: str) -> int:
        """Mark quarantined records resolved (their fills are stored, or they are
        of no user's account); returns how many were still open."""
        if not ids:
            return 0
        async with self._writing() as conn:
            return await quarantine.resolve(conn, ids, resolution, datetime.now(UTC))

    async def bust_missing(self, recount: OrderRecount) -> int:
        """Bust the order's stored fills its complete snapshot no longer lists
        (see :func:`.writes.bust_missing`); return how many."""
        return (await self.capture(CaptureBatch(recounts=[recount]))).recount_busts[0]

    async def save_accounts(self, firm: str, accounts: Sequence[VisibleAccount]) -> None:
        """Record accounts the fill user sees: id, number, code and name."""
        await self.capture(CaptureBatch(accounts=[(firm, accounts)]))

    async def insert_amendments(
        self, fills: Sequence[Fill], busts: Sequence[Bust]
    ) -> tuple[list[Fill], list[Bust]]:
        """Store fills and busts of sealed days, recording each that changed
        something as an amendment of its day; return those."""
        result = await self.capture(CaptureBatch(late_fills=fills, late_busts=busts))
        return result.amended_fills, result.amended_busts

    async def save_snapshots(self, snapshots: Sequence[SnapshotReceived]) -> None:
        """Record each account's latest snapshot counts, the newest fill row
        committed before each snapshot began with them."""
        await self.capture(CaptureBatch(snapshots=snapshots))
