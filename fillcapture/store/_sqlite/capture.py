"""The SQLite engine's capture role: a writer batch in one transaction (the
one-part writes above it are :class:`~fillcapture.store.capturing.OnePartWrites`).

The writes themselves are in :mod:`.writes`; this module decides only what
runs in which transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fillcapture.store._sqlite import certificates, quarantine, spreads, writes
from fillcapture.store._sqlite.plumbing import Plumbing
from fillcapture.store._sqlite.rows import utc_micros
from fillcapture.store._sqlite.shared import invalidate_positions
from fillcapture.store.capturing import OnePartWrites
from fillcapture.store.records import CaptureBatch, CaptureResult


def _now() -> int:
    return utc_micros(datetime.now(UTC))


class CaptureRole(OnePartWrites, Plumbing):
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
            if result.stored_fills:
                result.by_account = (batch.counted(result.stored_fills)
                                     or await writes.newest_by_account(conn, result.stored_fills))
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
