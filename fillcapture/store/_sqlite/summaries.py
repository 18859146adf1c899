"""The SQLite engine's summaries role: recorded positions, summary rows and activity.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fillcapture.store._sqlite.plumbing import Plumbing, scalar
from fillcapture.store._sqlite.rows import (
    utc_micros,
)
from fillcapture.store._sqlite.selects import JOINED_OWNER, OWNED, OWNERS, conditions
from fillcapture.store._sqlite.shared import DISTINCT
from fillcapture.store.columns import lots_of, lots_text
from fillcapture.store.records import (
    DailyRow,
    DayActivity,
    FillQuery,
    PositionDay,
)
from fillcapture.store.rules import POSITIONS_KEPT_DAYS

_SUMMARY_NAMES = (
    "trade_date", "firm", "account", "market_id", "buys", "buy_volume", "buy_vwap", "sells",
    "sell_volume", "sell_vwap", "pnl_points", "net_position", "unknown_side", "spread_legs")
_SUMMARY_COLUMNS = ", ".join(_SUMMARY_NAMES)
_SUMMARY_SELECTED = ", ".join(f"f.{column}" for column in _SUMMARY_NAMES)


class SummariesRole(Plumbing):
    """Checkpoints of the daily summary, replaced whole and invalidated by late changes."""

    async def position_day(self, firm: str, before: date,
                           accounts: Sequence[str] | None = None) -> PositionDay | None:
        async with self._reading() as conn:
            async with conn.execute(
                "SELECT max(trade_date) FROM position_days WHERE firm = ? AND trade_date < ?",
                (firm, before.isoformat())) as cursor:
                found = await cursor.fetchone()
            if found is None or found[0] is None:
                return None
            day: str = found[0]
            sql = ("SELECT account, market_id, lots FROM positions "
                   "WHERE firm = ? AND trade_date = ?")
            params: list[Any] = [firm, day]
            if accounts is not None:
                sql += f" AND account IN ({', '.join('?' * len(accounts))})"
                params.extend(accounts)
            rows = await conn.execute_fetchall(sql, params)
        return PositionDay(firm, date.fromisoformat(day),
                           {(row[0], row[1]): lots_of(row[2]) for row in rows})

    async def summary_coverage(self, firm: str) -> date | None:
        rows = await self._all("SELECT through FROM summary_coverage WHERE firm = ?", (firm,))
        return date.fromisoformat(rows[0][0]) if rows else None

    async def summary_rows(self, query: FillQuery, since: date | None,
                           until: date | None) -> list[DailyRow]:
        where, params = conditions(FillQuery(user=query.user, account=query.account,
                                              firm=query.firm, market_id=query.market_id),
                                   JOINED_OWNER)
        if since is not None:
            where.append("f.trade_date >= :from_date")
            params["from_date"] = since.isoformat()
        if until is not None:
            where.append("f.trade_date <= :to_date")
            params["to_date"] = until.isoformat()
        sql = f"{OWNERS}SELECT {_SUMMARY_SELECTED} FROM summary_rows f{OWNED}"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._all(sql, params)
        return [DailyRow(date.fromisoformat(r[0]), r[1], r[2], r[3], r[4], r[5],
                         None if r[6] is None else Decimal(r[6]), r[7], r[8],
                         None if r[9] is None else Decimal(r[9]), Decimal(r[10]), None,
                         r[11], r[12], r[13]) for r in rows]

    async def invalidation_mark(self) -> int:
        async with self._reading() as conn:
            return await scalar(conn, "SELECT coalesce(max(id), 0) FROM position_invalidations")

    async def save_positions(self, day: PositionDay, mark: int, rows: Sequence[DailyRow],
                             activity: Sequence[DayActivity], rows_after: date | None) -> bool:
        text = day.trade_date.isoformat()
        summary = [(r.trade_date.isoformat(), r.firm, r.account, r.market_id, r.buys,
                    r.buy_volume, _text(r.buy_vwap), r.sells, r.sell_volume,
                    _text(r.sell_vwap), str(r.pnl_points), r.net_position, r.unknown_side,
                    r.spread_legs) for r in rows]
        books = [(day.firm, text, account, market_id, lots_text(lots))
                 for (account, market_id), lots in day.books.items() if lots]
        async with self._writing() as conn:
            async with conn.execute(
                "SELECT 1 FROM position_invalidations WHERE id > ? AND firm = ? "
                "AND trade_date <= ? LIMIT 1", (mark, day.firm, text)) as cursor:
                if await cursor.fetchone() is not None:
                    return False
            await conn.execute("DELETE FROM positions WHERE firm = ? AND trade_date = ?",
                               (day.firm, text))
            await conn.executemany(
                "INSERT INTO positions (firm, trade_date, account, market_id, lots) "
                "VALUES (?, ?, ?, ?, ?)", books)
            await conn.execute(
                "INSERT OR REPLACE INTO position_days (firm, trade_date, recorded_at) "
                "VALUES (?, ?, ?)", (day.firm, text, utc_micros(datetime.now(UTC))))
            after = "" if rows_after is None else rows_after.isoformat()
            await conn.execute(
                "DELETE FROM summary_rows WHERE firm = ? AND trade_date > ? AND trade_date <= ?",
                (day.firm, after, text))
            await conn.execute(
                "DELETE FROM activity_days WHERE firm = ? AND trade_date > ? AND trade_date <= ?",
                (day.firm, after, text))
            await conn.executemany(
                "INSERT INTO activity_days (account, firm, trade_date, fills, volume, busted, "
                "first_time, last_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.account, a.firm, a.trade_date.isoformat(), a.fills, a.volume, a.busted,
                  None if a.first_fill is None else utc_micros(a.first_fill),
                  None if a.last_fill is None else utc_micros(a.last_fill)) for a in activity])
            await conn.executemany(
                f"INSERT INTO summary_rows ({_SUMMARY_COLUMNS}) "  # noqa: S608 - fixed text
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", summary)
            await conn.execute(
                "INSERT INTO summary_coverage (firm, through) VALUES (?, ?) "
                "ON CONFLICT (firm) DO UPDATE SET through = excluded.through",
                (day.firm, text))
            # Kept: the last 31 days' records and each month's last, so that a
            # summary from any date starts near it and the table stays small.
            keep_from = (day.trade_date - timedelta(days=POSITIONS_KEPT_DAYS)).isoformat()
            await conn.execute(
                "DELETE FROM position_days WHERE firm = ? AND trade_date < ? AND trade_date "
                "NOT IN (SELECT max(trade_date) FROM position_days WHERE firm = ? "
                "GROUP BY substr(trade_date, 1, 7))", (day.firm, keep_from, day.firm))
            await conn.execute(
                "DELETE FROM positions WHERE firm = ? AND trade_date < ? AND trade_date "
                "NOT IN (SELECT trade_date FROM position_days WHERE firm = ?)",
                (day.firm, keep_from, day.firm))
        return True

    async def fill_firms(self) -> list[str]:
        rows = await self._all(DISTINCT.format(column="firm"))
        return [row[0] for row in rows]

    async def fill_accounts(self) -> list[str]:
        rows = await self._all(DISTINCT.format(column="account"))
        return [row[0] for row in rows]

    async def first_trade_date(self, firm: str) -> date | None:
        # Per account, its first trade date at the firm, from the account index.
        rows = await self._all(
            "SELECT min((SELECT min(trade_date) FROM fills "  # noqa: S608 - fixed text
            "INDEXED BY fills_account_date WHERE account = a.value AND firm = :firm)) "
            f"FROM ({DISTINCT.format(column='account')}) a", {"firm": firm})
        return date.fromisoformat(rows[0][0]) if rows and rows[0][0] else None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)



