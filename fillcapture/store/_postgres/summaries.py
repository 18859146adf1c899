"""The PostgreSQL engine's summaries role: recorded positions, summary rows and activity.

The rules are the SQLite engine's (:mod:`fillcapture.store._sqlite.summaries`):
checkpoints replaced whole, discarded by a later change to their days.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.selects import OWNED, Args, conditions
from fillcapture.store._postgres.shared import DISTINCT, lock_summaries
from fillcapture.store.columns import lots_of, lots_text
from fillcapture.store.records import DailyRow, DayActivity, FillQuery, PositionDay
from fillcapture.store.rules import POSITIONS_KEPT_DAYS

_SUMMARY_NAMES = (
    "trade_date", "firm", "account", "market_id", "buys", "buy_volume", "buy_vwap", "sells",
    "sell_volume", "sell_vwap", "pnl_points", "net_position", "unknown_side", "spread_legs")
_SUMMARY_COLUMNS = ", ".join(_SUMMARY_NAMES)
_SUMMARY_SELECT = ", ".join(f"f.{column}" for column in _SUMMARY_NAMES)


class SummariesRole(Plumbing):
    """Checkpoints of the daily summary, replaced whole and invalidated by late changes."""

    async def position_day(self, firm: str, before: date,
                           accounts: Sequence[str] | None = None) -> PositionDay | None:
        """``firm``'s latest recorded positions of a trade date before ``before``."""
        async with self.snapshot() as conn:
            day = await conn.fetchval(
                "SELECT max(trade_date) FROM position_days WHERE firm = $1 AND trade_date < $2",
                firm, before)
            if day is None:
                return None
            sql = ("SELECT account, market_id, lots FROM positions "
                   "WHERE firm = $1 AND trade_date = $2")
            args: list[Any] = [firm, day]
            if accounts is not None:
                sql += " AND account = ANY($3::text[])"
                args.append(list(accounts))
            rows = await conn.fetch(sql, *args)
        return PositionDay(firm, day, {(row[0], row[1]): lots_of(row[2]) for row in rows})

    async def summary_coverage(self, firm: str) -> date | None:
        """The trade date through which ``firm``'s daily summary rows are recorded."""
        found: date | None = await self._value(
            "SELECT through FROM summary_coverage WHERE firm = $1", firm)
        return found

    async def summary_rows(self, query: FillQuery, since: date | None,
                           until: date | None) -> list[DailyRow]:
        """Recorded rows of ``since`` to ``until`` of what ``query`` names."""
        args = Args()
        where = conditions(FillQuery(user=query.user, account=query.account,
                                     firm=query.firm, market_id=query.market_id), args)
        if since is not None:
            where.append(f"f.trade_date >= {args(since)}")
        if until is not None:
            where.append(f"f.trade_date <= {args(until)}")
        sql = f"SELECT {_SUMMARY_SELECT} FROM summary_rows f{OWNED}"  # noqa: S608 - fixed text
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._all(sql, *args.values)
        return [DailyRow(r[0], r[1], r[2], r[3], r[4], r[5],
                         None if r[6] is None else Decimal(r[6]), r[7], r[8],
                         None if r[9] is None else Decimal(r[9]), Decimal(r[10]), None,
                         r[11], r[12], r[13]) for r in rows]

    async def invalidation_mark(self) -> int:
        """The count of position invalidations so far (their newest id)."""
        return int(await self._value(
            "SELECT coalesce(max(id), 0) FROM position_invalidations"))

    async def save_positions(self, day: PositionDay, mark: int, rows: Sequence[DailyRow],
                             activity: Sequence[DayActivity], rows_after: date | None) -> bool:
        """Record ``day`` and its summary rows and activity, unless a change
        to the firm's fills of that date or earlier came after ``mark``."""
        summary = [(r.trade_date, r.firm, r.account, r.market_id, r.buys, r.buy_volume,
                    _text(r.buy_vwap), r.sells, r.sell_volume, _text(r.sell_vwap),
                    str(r.pnl_points), r.net_position, r.unknown_side, r.spread_legs)
                   for r in rows]
        books = [(day.firm, day.trade_date, account, market_id, lots_text(lots))
                 for (account, market_id), lots in day.books.items() if lots]
        firm, text = day.firm, day.trade_date
        async with self.transaction() as conn:
            # Under the lock every invalidation of the firm takes: one
            # committed before is seen here, one after waits for this record.
            await lock_summaries(conn, firm)
            if await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM position_invalidations WHERE id > $1 "
                    "AND firm = $2 AND trade_date <= $3)", mark, firm, text):
                return False
            await conn.execute("DELETE FROM positions WHERE firm = $1 AND trade_date = $2",
                               firm, text)
            await conn.executemany(
                "INSERT INTO positions (firm, trade_date, account, market_id, lots) "
                "VALUES ($1, $2, $3, $4, $5)", books)
            await conn.execute(
                "INSERT INTO position_days (firm, trade_date, recorded_at) "
                "VALUES ($1, $2, now()) ON CONFLICT (firm, trade_date) DO UPDATE "
                "SET recorded_at = excluded.recorded_at", firm, text)
            after = date.min if rows_after is None else rows_after
            await conn.execute(
                "DELETE FROM summary_rows WHERE firm = $1 AND trade_date > $2 "
                "AND trade_date <= $3", firm, after, text)
            await conn.execute(
                "DELETE FROM activity_days WHERE firm = $1 AND trade_date > $2 "
                "AND trade_date <= $3", firm, after, text)
            await conn.executemany(
                "INSERT INTO activity_days (account, firm, trade_date, fills, volume, busted, "
                "first_time, last_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [(a.account, a.firm, a.trade_date, a.fills, a.volume, a.busted,
                  a.first_fill, a.last_fill) for a in activity])
            await conn.executemany(
                f"INSERT INTO summary_rows ({_SUMMARY_COLUMNS}) "  # noqa: S608 - fixed text
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)", summary)
            await conn.execute(
                "INSERT INTO summary_coverage (firm, through) VALUES ($1, $2) "
                "ON CONFLICT (firm) DO UPDATE SET through = excluded.through", firm, text)
            # Kept: the last 31 days' records and each month's last, so that a
            # summary from any date starts near it and the table stays small.
            keep_from = day.trade_date - timedelta(days=POSITIONS_KEPT_DAYS)
            await conn.execute(
                "DELETE FROM position_days WHERE firm = $1 AND trade_date < $2 AND trade_date "
                "NOT IN (SELECT max(trade_date) FROM position_days WHERE firm = $1 "
                "GROUP BY date_trunc('month', trade_date))", firm, keep_from)
            await conn.execute(
                "DELETE FROM positions WHERE firm = $1 AND trade_date < $2 AND trade_date "
                "NOT IN (SELECT trade_date FROM position_days WHERE firm = $1)",
                firm, keep_from)
        return True

    async def fill_firms(self) -> list[str]:
        """Every firm with a stored fill."""
        return [row[0] for row in await self._all(DISTINCT.format(column="firm"))]

    async def fill_accounts(self) -> list[str]:
        """Every account number with a stored fill, at any firm."""
        return [row[0] for row in await self._all(DISTINCT.format(column="account"))]

    async def first_trade_date(self, firm: str) -> date | None:
        """The earliest trade date of ``firm``'s fills: per account, from the account index."""
        found: date | None = await self._value(
            "SELECT min((SELECT min(trade_date) FROM fills "  # noqa: S608 - fixed text
            "WHERE account = a.value AND firm = $1)) "
            f"FROM ({DISTINCT.format(column='account')}) a", firm)
        return found


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
