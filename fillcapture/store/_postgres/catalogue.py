"""The PostgreSQL engine's catalogue role: what capture recorded besides fills, read back.
"""

from __future__ import annotations

from decimal import Decimal

from fillcapture.model import Market, SpreadDefinition, VisibleAccount
from fillcapture.store._postgres import quarantine, spreads
from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.shared import SIDELESS
from fillcapture.store.records import QuarantineRow


class CatalogueRole(Plumbing):
    """Busts, quarantine, known accounts, markets, spreads, side-less orders."""

    async def count_busts(self) -> int:
        """How many busts are recorded."""
        return int(await self._value("SELECT count(*) FROM busts"))

    async def sideless_orders(self) -> set[tuple[str, str, str]]:
        """(firm, account_id, order_id) of every order with a fill of unknown side."""
        rows = await self._all(
            f"SELECT DISTINCT firm, account_id, order_id FROM fills WHERE {SIDELESS}")  # noqa: S608
        return {(row[0], row[1], row[2]) for row in rows}

    async def markets(self) -> dict[str, Market]:
        """Every market's recorded terms, by market id."""
        rows = await self._all(
            "SELECT market_id, exchange_id, contract_id, point_value FROM markets")
        return {row[0]: Market(row[0], row[1], row[2], Decimal(row[3])) for row in rows}

    async def spreads(self) -> dict[str, SpreadDefinition]:
        """Every recorded spread definition, by spread market id."""
        async with self.reading() as conn:
            return await spreads.definitions(conn, None)

    async def quarantined(self, *, open_only: bool = True, reason: str | None = None,
                          limit: int | None = None) -> list[QuarantineRow]:
        """Quarantined records in the order they came, unresolved ones only by default."""
        where = []
        args: list[object] = []
        if open_only:
            where.append("resolved_at IS NULL")
        if reason is not None:
            args.append(reason)
            where.append(f"reason = ${len(args)}")
        sql = f"SELECT {quarantine.COLUMNS} FROM quarantine"  # noqa: S608 - constant text
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            args.append(limit)
            sql += f" LIMIT ${len(args)}"
        return [quarantine.row(found) for found in await self._all(sql, *args)]

    async def quarantine_counts(self) -> dict[str, int]:
        """Unresolved quarantined records by reason."""
        rows = await self._all(
            "SELECT reason, count(*) FROM quarantine WHERE resolved_at IS NULL GROUP BY reason")
        return {row[0]: int(row[1]) for row in rows}

    async def known_accounts(self) -> dict[str, list[VisibleAccount]]:
        """Every account ever recorded by ``save_accounts``, by firm."""
        found: dict[str, list[VisibleAccount]] = {}
        for firm, account_id, number, code, name in await self._all(
                "SELECT firm, account_id, number, code, name FROM accounts "
                "ORDER BY firm, number"):
            found.setdefault(firm, []).append(VisibleAccount(account_id, number, name, code))
        return found
