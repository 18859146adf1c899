"""The capture role's one-part writes, written once above the engines.

Each is :meth:`capture` of a batch holding that part only, so an engine
implements ``capture`` and inherits these: tests and tools that store one
kind of record at a time speak the same transaction the writer does.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from fillcapture.model import (
    Bust,
    Fill,
    Market,
    OrderSide,
    Quarantined,
    SnapshotReceived,
    SpreadDefinition,
    VisibleAccount,
)
from fillcapture.store.records import CaptureBatch, CaptureResult


class OnePartWrites(abc.ABC):
    """Mixin for an engine: the writes of one part of a :class:`CaptureBatch`,
    each through the engine's :meth:`capture`."""

    @abc.abstractmethod
    async def capture(self, batch: CaptureBatch) -> CaptureResult:
        """The engine's one transaction for ``batch``."""

    async def insert_fills(self, fills: Sequence[Fill]) -> int:
        """Store ``fills`` in one transaction; return how many were new.

        Duplicates (same identity) are absorbed; a duplicate that knows the side
        fills in a stored fill's missing side without counting as new.
        """
        return (await self.capture(CaptureBatch(fills=fills))).new_fills

    async def insert_busts(self, busts: Sequence[Bust]) -> tuple[int, int]:
        """Record busts (as :meth:`~fillcapture.store.roles.Capture.insert_busts`
        says); return (new fills, new busts)."""
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
