"""The SQLite engine's catalogue role: what capture recorded besides fills, read back.
"""

from __future__ import annotations

from decimal import Decimal

from fillcapture.model import (
    Market,
    SpreadDefinition,
    VisibleAccount,
)
from fillcapture.store._sqlite import quarantine, spreads
from fillcapture.store._sqlite.plumbing import Plumbing, scalar
from fillcapture.store._sqlite.shared import SIDELESS
from fillcapture.store.records import (
    QuarantineRow,
)


class CatalogueRole(Plumbing):
    """Busts, quarantine, known accounts, markets, spreads, side-less orders."""

    async def count_busts(self) -> int:
        """How many busts are recorded."""
        async with self._reading() as conn:
            return await scalar(conn, "SELECT count(*) FROM busts")

    async def sideless_orders(self) -> set[tuple[str, str, str]]:
        """(firm, account_id, order_id) of every order with a fill of unknown side."""
        rows = await self._all(
            f"SELECT DISTINCT firm, account_id, order_id FROM fills WHERE {SIDELESS}"  # noqa: S608
        )
        return {(row[0], row[1], row[2]) for row in rows}

    async def markets(self) -> dict[str, Market]:
        rows = await self._all(
            "SELECT market_id, exchange_id, contract_id, point_value FROM markets")
        return {row[0]: Market(row[0], row[1], row[2], Decimal(row[3])) for row in rows}

    async def spreads(self) -> dict[str, SpreadDefinition]:
        async with self._reading() as conn:
            return await spreads.definitions(conn, None)

    async def quarantined(self, *, open_only: bool = True, reason: str | None = None,
                          limit: int | None = None) -> list[QuarantineRow]:
        """Quarantined records in the order they came, unresolved ones only by default."""
        async with self._reading() as conn:
            return await quarantine.select(conn, open_only=open_only, reason=reason,
                                           limit=limit)

    async def quarantine_counts(self) -> dict[str, int]:
        """Unresolved quarantined records by reason."""
        async with self._reading() as conn:
            return await quarantine.counts(conn)

    async def known_accounts(self) -> dict[str, list[VisibleAccount]]:
        """Every account ever recorded by ``save_accounts``, by firm."""
        async with self._reading() as conn:
            return await quarantine.known_accounts(conn)
