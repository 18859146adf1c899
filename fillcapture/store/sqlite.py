"""The SQLite store engine (aiosqlite): capture path, ownership registry and fill queries.

One connection serves writes and short reads; each ``fills()`` stream gets its own reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite
import structlog

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
from fillcapture.store import certificates, lease, migrations, quarantine, spreads
from fillcapture.store.connection import (
    BUSY_TIMEOUT_MS,
    CHECKPOINT_BUSY_MS,
    connect,
    transaction,
)
from fillcapture.store.errors import store_error
from fillcapture.store.moves import Change, MoveRefused, changes
from fillcapture.store.records import (
    AccountActivity,
    DailyRow,
    DayActivity,
    FillKey,
    FillPage,
    FillQuery,
    Gap,
    Lots,
    Outbox,
    OutboxBatch,
    OutboxCursor,
    Owner,
    PositionDay,
    QuarantineRow,
    Seal,
    SealedDay,
    StoredFill,
    StoreError,
    TokenHolder,
    Verification,
)
from fillcapture.store.rows import (
    INSERT_COLUMNS,
    OUTRIGHT,
    SELECT_COLUMNS,
    fill_rows,
    from_micros,
    is_spread_part,
    order_side_of,
    stored_fill,
    utc_micros,
    utc_text,
)

log = structlog.get_logger(__name__)

POSITIONS_KEPT_DAYS = 31
"""Recorded positions of the days this close to the newest are all kept;
before them, only each month's last."""

PAGE_ROWS = 500
"""Rows fetched per round trip by ``fills()``: what it holds in memory at most."""

# DO NOTHING rather than an upsert setting the side: the change count is then
# exactly the number of new fills (see _fill_in_sides). Not OR IGNORE: that
# would also skip rows breaking NOT NULL or CHECK, silently losing a fill.
_ROW = f"({', '.join('?' * len(INSERT_COLUMNS))})"
_CONFLICT = "ON CONFLICT (firm, order_id, trade_key, leg_index) DO NOTHING"

ROWS_PER_STATEMENT = 1000
"""Fills per multi-row INSERT (16,000 parameters; SQLite allows 32,766).

One statement per 1,000 rows rather than executemany(): the sqlite3 module
releases and retakes the GIL around every statement step, and while the event
loop decodes frames each retake can wait up to a switch interval. Per row,
that made the writer thread crawl; per 1,000 rows it does not matter."""

# Chunk sizes: a batch is cut into these (largest first) so that only a dozen
# distinct statements exist and each stays in the connection's statement cache.
_CHUNKS = (ROWS_PER_STATEMENT, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1)


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    """(start, size) pieces covering ``total`` rows, sizes from :data:`_CHUNKS`."""
    start = 0
    for size in _CHUNKS:
        while total - start >= size:
            yield start, size
            start += size


@functools.lru_cache(maxsize=len(_CHUNKS))
def _insert_sql(rows: int) -> str:
    return (
        f"INSERT INTO fills ({', '.join(INSERT_COLUMNS)}) "  # noqa: S608 - constant names
        f"VALUES {', '.join([_ROW] * rows)} {_CONFLICT}"
    )


# A fill whose order's side is unknown (fills_sideless): a leg's own side
# follows from the order's, so a pending leg whose order side is known waits
# for its spread's definition instead.
_SIDELESS = "side IS NULL AND (kind <> 1 OR order_side IS NULL)"

_SIDE_OF_FILL = (
    "UPDATE fills SET side = ? WHERE firm = ? AND account_id = ? AND order_id = ? "  # noqa: S608
    f"AND trade_key = ? AND leg_index = ? AND {_SIDELESS}"
)

# The order's side (:side, and :opposite) given to a fill: a leg's side is
# it or its opposite by the leg's direction (none while the leg is pending).
_ORDER_SIDE = (
    "side = CASE WHEN kind <> 1 OR leg_sign = 1 THEN :side "
    "WHEN leg_sign = -1 THEN :opposite END, "
    "order_side = CASE WHEN kind = 1 THEN :side END"
)

_ORDER_SIDE_OF_FILL = (
    f"UPDATE fills SET {_ORDER_SIDE} WHERE firm = :firm AND "  # noqa: S608 - constant text
    "account_id = :account_id AND order_id = :order_id AND trade_key = :trade_key "
    f"AND leg_index = :leg_index AND {_SIDELESS}"
)

_MARK_BUSTED = (
    "UPDATE fills SET busted_at = ? WHERE firm = ? AND order_id = ? AND trade_key = ? "
    "AND leg_index = ? AND busted_at IS NULL"
)

_INSERT_BUST = (
    "INSERT INTO busts (firm, account_id, account, order_id, trade_key, leg_index, busted_at, "
    "captured_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (firm, order_id, trade_key, leg_index) DO NOTHING"
)

_RESOLVE_SIDE = (
    f"UPDATE fills SET {_ORDER_SIDE} WHERE firm = :firm AND "  # noqa: S608 - constant text
    f"account_id = :account_id AND order_id = :order_id AND {_SIDELESS}"
)

# The earliest trade date of an order's side-less fills, if it is a day
# sealed or recorded for the firm (else NULL).
_SIDELESS_RECORDED_DAY = (
    "SELECT day FROM (SELECT min(trade_date) AS day FROM fills WHERE firm = :firm "  # noqa: S608
    f"AND account_id = :account_id AND order_id = :order_id AND {_SIDELESS}) "
    "WHERE day <= max("
    "coalesce((SELECT max(trade_date) FROM sealed_days WHERE firm = :firm), ''), "
    "coalesce((SELECT through FROM summary_coverage WHERE firm = :firm), ''), "
    "coalesce((SELECT max(trade_date) FROM position_days WHERE firm = :firm), ''))"
)

# An account's activity at a firm: of the days recorded (through the third
# parameter), from activity_days; of later days, from their fills. Each gives
# live fills, their volume, busted fills, first and last live fill time.
_RECORDED_ACTIVITY = (
    "SELECT coalesce(sum(fills), 0), coalesce(sum(volume), 0), coalesce(sum(busted), 0), "
    "min(first_time), max(last_time) FROM activity_days "
    "WHERE account = ? AND firm = ? AND trade_date <= ?"
)
_LIVE_ACTIVITY = (
    "SELECT count(*) FILTER (WHERE busted_at IS NULL), "
    "coalesce(sum(volume) FILTER (WHERE busted_at IS NULL), 0), "
    "count(*) FILTER (WHERE busted_at IS NOT NULL), "
    "min(exchange_time) FILTER (WHERE busted_at IS NULL), "
    "max(exchange_time) FILTER (WHERE busted_at IS NULL) "
    "FROM fills INDEXED BY fills_account_date WHERE account = ? AND firm = ? AND trade_date > ?"
)

# A market's row changes (and counts) only when one of its terms did.
_SAVE_MARKET = (
    "INSERT INTO markets (market_id, exchange_id, contract_id, point_value, updated_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (market_id) DO UPDATE SET "
    "exchange_id = excluded.exchange_id, contract_id = excluded.contract_id, "
    "point_value = excluded.point_value, updated_at = excluded.updated_at "
    "WHERE (exchange_id, contract_id, point_value) "
    "<> (excluded.exchange_id, excluded.contract_id, excluded.point_value)"
)

# The owner of a fill: the entry naming its firm, else the firm-less entry.
_OWNER = (
    "COALESCE("
    "(SELECT o.user_name FROM owned_numbers o WHERE o.firm = f.firm AND o.account = f.account), "
    "(SELECT o.user_name FROM owned_numbers o WHERE o.firm = '' AND o.account = f.account))"
)

_FILL_COLUMNS = ", ".join(f"f.{column}" for column in SELECT_COLUMNS)

# The outbox reads by row id, which is commit order; the owner is the current one.
_OUTBOX_FILLS = (
    f"SELECT f.id, {_OWNER}, {_FILL_COLUMNS} FROM fills f "  # noqa: S608 - constant text
    "WHERE f.id > :after ORDER BY f.id LIMIT :limit"
)

# A bust whose fill is gone (pruned) has nothing to publish: the join drops it.
_OUTBOX_BUSTS = (
    f"SELECT b.id, f.id, b.busted_at, {_OWNER}, {_FILL_COLUMNS} "  # noqa: S608 - constant text
    "FROM busts b JOIN fills f ON f.firm = b.firm AND f.order_id = b.order_id "
    "AND f.trade_key = b.trade_key AND f.leg_index = b.leg_index "
    "WHERE b.id > :after ORDER BY b.id LIMIT :limit"
)


class SqliteStore:
    """A fill store in one SQLite file. Open with ``async with SqliteStore(path) as store``.

    ``readonly`` opens the file read-only: it must exist with a current schema,
    and every write method raises :class:`StoreError`. Safe to share between
    tasks: operations on the shared connection are serialised by a lock.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._readers: set[aiosqlite.Connection] = set()
        # The connection was dropped after an outage; the next use reopens it.
        self._dropped = False

    def __repr__(self) -> str:
        mode = "ro" if self.readonly else "rw"
        return f"<SqliteStore {self.path} {mode}{'' if self._conn else ' closed'}>"

    async def __aenter__(self) -> Self:
        if self._conn is not None:
            return self
        self._conn = await self._open()
        return self

    async def _open(self) -> aiosqlite.Connection:
        """A connection with the schema current (migrated, or checked if read-only)."""
        conn = await connect(self.path, readonly=self.readonly)
        try:
            if self.readonly:
                await migrations.require_current(conn, self.path)
            else:
                await migrations.migrate(conn, self.path)
            # Reading the schema finds a damaged first page now, not at the first query.
            await conn.execute_fetchall("SELECT count(*) FROM sqlite_master")
        except sqlite3.Error as exc:
            await conn.close()
            raise store_error(self.path, exc, "cannot prepare the schema") from exc
        except BaseException:
            await conn.close()
            raise
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the store and any ``fills()`` stream still open; idempotent."""
        for reader in list(self._readers):
            await reader.close()
        self._readers.clear()
        conn, self._conn = self._conn, None
        self._dropped = False
        if conn is not None:
            async with self._lock:
                await conn.close()

    def lease(self, instance: str) -> AbstractAsyncContextManager[None]:
        """The lease of ``instance``: a lock file beside the store (see store/lease.py)."""
        return lease.hold(self.path, instance)

    # --- plumbing -------------------------------------------------------------

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """The shared connection for a short read, sqlite3 errors as StoreError.

        After an outage (a full disk, a read-only file system) the connection
        is dropped, which frees its -wal and -shm files (and lets an operator
        remount the file system), and opened afresh by the next call."""
        if self._conn is None and not self._dropped:
            raise StoreError(f"{self.path}: store is not open")
        # Under the lock: a read must not see another task's open transaction.
        async with self._lock:
            if self._conn is None:
                self._conn = await self._open()
                self._dropped = False
            conn = self._conn
            try:
                yield conn
            except sqlite3.Error as exc:
                error = store_error(self.path, exc)
                if error.outage:
                    self._conn, self._dropped = None, True
                    with contextlib.suppress(sqlite3.Error):
                        await conn.close()
                raise error from exc

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction on the shared connection."""
        self._check_writable()
        async with self._reading() as conn, transaction(conn):
            yield conn

    def _check_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path}: store is open read-only")

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._reading() as conn:
            return list(await conn.execute_fetchall(sql, params))

    # --- capture path ---------------------------------------------------------

    async def insert_fills(self, fills: Sequence[Fill]) -> int:
        """Store ``fills`` in one transaction; return how many were new.

        Duplicates (same identity) are absorbed; a duplicate that knows the side
        fills in a stored fill's missing side without counting as new.
        """
        self._check_writable()
        if not fills:
            return 0
        async with self._writing() as conn:
            return await _insert(conn, fills, utc_micros(datetime.now(UTC)))

    async def insert_busts(self, busts: Sequence[Bust]) -> tuple[int, int]:
        """Record busts: store each busted fill if new, mark it busted (the
        first bust time stays), and keep the bust as its own record.

        Returns (new fills, new busts). The fill comes from the bust message,
        so a fill busted while the daemon was away is still stored, busted.
        """
        self._check_writable()
        if not busts:
            return 0, 0
        captured_at = utc_micros(datetime.now(UTC))
        rows = [
            (
                bust.fill.firm, bust.fill.account_id, bust.fill.account, bust.fill.order_id,
                bust.fill.trade_key,
                OUTRIGHT if bust.fill.leg_index is None else bust.fill.leg_index,
                utc_micros(bust.busted_at), captured_at,
            )
            for bust in busts
        ]
        async with self._writing() as conn:
            new_fills = await _insert(conn, [bust.fill for bust in busts], captured_at)
            await conn.executemany(_MARK_BUSTED, [(r[6], r[0], r[3], r[4], r[5]) for r in rows])
            cursor = await conn.executemany(_INSERT_BUST, rows)
            return new_fills, int(cursor.rowcount)

    async def count_busts(self) -> int:
        """How many busts are recorded."""
        async with self._reading() as conn:
            return await _scalar(conn, "SELECT count(*) FROM busts")

    async def resolve_sides(self, items: Sequence[OrderSide]) -> int:
        """Set the side of each order's side-less fills; return rows changed."""
        self._check_writable()
        if not items:
            return 0
        rows = [{"side": item.side.value, "opposite": _OPPOSITE[item.side.value],
                 "firm": item.firm, "account_id": item.account_id,
                 "order_id": item.order_id} for item in items]
        async with self._writing() as conn:
            # A side changes what the summary makes of a recorded (or sealed,
            # so perhaps being recorded) day; most late sides are of today's
            # fills and change nothing recorded.
            for item in items:
                async with conn.execute(_SIDELESS_RECORDED_DAY, {
                        "firm": item.firm, "account_id": item.account_id,
                        "order_id": item.order_id}) as cursor:
                    found = await cursor.fetchone()
                if found is not None and found[0] is not None:
                    await _invalidate_positions(conn, item.firm, found[0])
            cursor = await conn.executemany(_RESOLVE_SIDE, rows)
            return int(cursor.rowcount)

    async def sideless_orders(self) -> set[tuple[str, str, str]]:
        """(firm, account_id, order_id) of every order with a fill of unknown side."""
        rows = await self._all(
            f"SELECT DISTINCT firm, account_id, order_id FROM fills WHERE {_SIDELESS}"  # noqa: S608
        )
        return {(row[0], row[1], row[2]) for row in rows}

    async def save_markets(self, markets: Sequence[Market]) -> int:
        """Record markets' terms; a row changes only when a term did."""
        self._check_writable()
        if not markets:
            return 0
        now = utc_micros(datetime.now(UTC))
        rows = [(m.market_id, m.exchange_id, m.contract_id, str(m.point_value), now)
                for m in markets]
        async with self._writing() as conn:
            cursor = await conn.executemany(_SAVE_MARKET, rows)
            return int(cursor.rowcount)

    async def markets(self) -> dict[str, Market]:
        rows = await self._all(
            "SELECT market_id, exchange_id, contract_id, point_value FROM markets")
        return {row[0]: Market(row[0], row[1], row[2], Decimal(row[3])) for row in rows}

    async def save_spreads(self, definitions: Sequence[SpreadDefinition]) -> tuple[int, int]:
        """Record spreads' legs (a definition as recorded changes nothing) and
        place their pending leg fills."""
        self._check_writable()
        if not definitions:
            return 0, 0
        async with self._writing() as conn:
            return await spreads.save(conn, definitions, utc_micros(datetime.now(UTC)),
                                      _invalidate_positions)

    async def spreads(self) -> dict[str, SpreadDefinition]:
        async with self._reading() as conn:
            return await spreads.definitions(conn, None)

    # --- quarantine and known accounts ------------------------------------

    async def quarantine(self, records: Sequence[Quarantined]) -> int:
        """Keep records that could not be stored; returns how many were new
        (the same record sent again is kept once)."""
        if not records:
            return 0
        async with self._writing() as conn:
            return await quarantine.insert(conn, records)

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

    async def resolve_quarantined(self, ids: Sequence[int], resolution: str) -> int:
        """Mark quarantined records resolved (their fills are stored, or they are
        of no user's account); returns how many were still open."""
        if not ids:
            return 0
        async with self._writing() as conn:
            return await quarantine.resolve(conn, ids, resolution, datetime.now(UTC))

    async def bust_missing(self, recount: OrderRecount) -> int:
        """Bust the stored live fills of ``recount``'s order that its complete
        snapshot list no longer carries, and resolve the order's unresolved
        busts in the quarantine; returns the fills busted. Summaries recorded
        for their days are invalidated, as for any late bust."""
        busted_at = utc_micros(recount.busted_at)
        now = utc_micros(datetime.now(UTC))
        async with self._writing() as conn:
            rows = await conn.execute_fetchall(
                "SELECT account_id, account, trade_key, leg_index, trade_date FROM fills "
                "WHERE firm = ? AND order_id = ? AND busted_at IS NULL",
                (recount.firm, recount.order_id))
            missing = [row for row in rows if (row[2], None if row[3] < 0 else row[3])
                       not in recount.trades]
            for account_id, account, trade_key, leg_index, day in missing:
                await conn.execute(_MARK_BUSTED, (busted_at, recount.firm, recount.order_id,
                                                  trade_key, leg_index))
                await conn.execute(_INSERT_BUST, (recount.firm, account_id, account,
                                                  recount.order_id, trade_key, leg_index,
                                                  busted_at, now))
                await _invalidate_positions(conn, recount.firm, day)
            if missing:
                await conn.execute(
                    "UPDATE quarantine SET resolved_at = ?, resolution = 'busted' "
                    "WHERE firm = ? AND order_id = ? AND reason = 'bust_unresolved' "
                    "AND resolved_at IS NULL", (now, recount.firm, recount.order_id))
            return len(missing)

    async def save_accounts(self, firm: str, accounts: Sequence[VisibleAccount]) -> None:
        """Record accounts the fill user sees: id, number, code and name."""
        if accounts:
            async with self._writing() as conn:
                await quarantine.save_accounts(conn, firm, accounts, datetime.now(UTC))

    async def known_accounts(self) -> dict[str, list[VisibleAccount]]:
        """Every account ever recorded by ``save_accounts``, by firm."""
        async with self._reading() as conn:
            return await quarantine.known_accounts(conn)

    async def insert_amendments(
        self, fills: Sequence[Fill], busts: Sequence[Bust]
    ) -> tuple[list[Fill], list[Bust]]:
        """Store fills and busts of sealed days one by one (they are few), and
        record each that changed something as an amendment of its day."""
        self._check_writable()
        now = utc_micros(datetime.now(UTC))
        new_fills: list[Fill] = []
        new_busts: list[Bust] = []
        async with self._writing() as conn:
            for fill in fills:
                if await _insert(conn, [fill], now):
                    new_fills.append(fill)
                    await _amend(conn, fill, "fill", now)
            for bust in busts:
                fill = bust.fill
                leg = OUTRIGHT if fill.leg_index is None else fill.leg_index
                if await _insert(conn, [fill], now):
                    new_fills.append(fill)
                cursor = await conn.execute(
                    _MARK_BUSTED,
                    (utc_micros(bust.busted_at), fill.firm, fill.order_id, fill.trade_key, leg))
                await conn.execute(_INSERT_BUST, (
                    fill.firm, fill.account_id, fill.account, fill.order_id, fill.trade_key, leg,
                    utc_micros(bust.busted_at), now))
                if cursor.rowcount:
                    new_busts.append(bust)
                    await _amend(conn, fill, "bust", now)
        return new_fills, new_busts

    # --- positions (checkpoints of the daily summary) ------------------------

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
                           {(row[0], row[1]): _lots(row[2]) for row in rows})

    async def summary_coverage(self, firm: str) -> date | None:
        rows = await self._all("SELECT through FROM summary_coverage WHERE firm = ?", (firm,))
        return date.fromisoformat(rows[0][0]) if rows else None

    async def summary_rows(self, query: FillQuery, since: date | None,
                           until: date | None) -> list[DailyRow]:
        where, params = _conditions(FillQuery(user=query.user, account=query.account,
                                              firm=query.firm, market_id=query.market_id))
        if since is not None:
            where.append("f.trade_date >= :from_date")
            params["from_date"] = since.isoformat()
        if until is not None:
            where.append("f.trade_date <= :to_date")
            params["to_date"] = until.isoformat()
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM summary_rows f"  # noqa: S608 - fixed text
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._all(sql, params)
        return [DailyRow(date.fromisoformat(r[0]), r[1], r[2], r[3], r[4], r[5],
                         None if r[6] is None else Decimal(r[6]), r[7], r[8],
                         None if r[9] is None else Decimal(r[9]), Decimal(r[10]), None,
                         r[11], r[12], r[13]) for r in rows]

    async def invalidation_mark(self) -> int:
        async with self._reading() as conn:
            return await _scalar(conn, "SELECT coalesce(max(id), 0) FROM position_invalidations")

    async def save_positions(self, day: PositionDay, mark: int, rows: Sequence[DailyRow],
                             activity: Sequence[DayActivity], rows_after: date | None) -> bool:
        text = day.trade_date.isoformat()
        summary = [(r.trade_date.isoformat(), r.firm, r.account, r.market_id, r.buys,
                    r.buy_volume, _text(r.buy_vwap), r.sells, r.sell_volume,
                    _text(r.sell_vwap), str(r.pnl_points), r.net_position, r.unknown_side,
                    r.spread_legs) for r in rows]
        books = [(day.firm, text, account, market_id, _lots_text(lots))
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
        rows = await self._all(_DISTINCT.format(column="firm"))
        return [row[0] for row in rows]

    async def fill_accounts(self) -> list[str]:
        rows = await self._all(_DISTINCT.format(column="account"))
        return [row[0] for row in rows]

    async def first_trade_date(self, firm: str) -> date | None:
        # Per account, its first trade date at the firm, from the account index.
        rows = await self._all(
            "SELECT min((SELECT min(trade_date) FROM fills "  # noqa: S608 - fixed text
            "INDEXED BY fills_account_date WHERE account = a.value AND firm = :firm)) "
            f"FROM ({_DISTINCT.format(column='account')}) a", {"firm": firm})
        return date.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    # --- operations -----------------------------------------------------------

    async def seal_day(self, firm: str, day: date, reconciled_at: datetime | None,
                       verification: Verification | None = None,
                       recovered: Mapping[str, int] | None = None) -> list[Seal]:
        """Seal ``day`` for ``firm``: per account, its live fills, volume and
        busts as stored now, and its certificate. A day is sealed once;
        sealing it again is a no-op."""
        text = day.isoformat()
        now = utc_micros(datetime.now(UTC))
        async with self._writing() as conn:
            cursor = await conn.execute(
                "INSERT INTO sealed_days (firm, trade_date, reconciled_at, sealed_at, verified, "
                "reconcile_step, unverified_reason) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (firm, text, None if reconciled_at is None else utc_micros(reconciled_at), now,
                 *certificates.verification_columns(verification)))
            if cursor.rowcount:
                await certificates.write_certificates(conn, firm, day, recovered or {})
                # One pass over the day's rows (the account index does not lead
                # with the date; once a day, this is cheap enough).
                await conn.execute(
                    "INSERT INTO seals (firm, account, trade_date, fills, volume, busted) "
                    "SELECT firm, account, trade_date, "
                    "count(*) FILTER (WHERE busted_at IS NULL), "
                    "coalesce(sum(volume) FILTER (WHERE busted_at IS NULL), 0), "
                    "count(*) FILTER (WHERE busted_at IS NOT NULL) "
                    "FROM fills WHERE firm = ? AND trade_date = ? "
                    "GROUP BY firm, account, trade_date",
                    (firm, text))
        return [seal for seal in await self.seals(day) if seal.trade_date == day
                and seal.firm == firm]

    async def save_snapshots(self, snapshots: Sequence[SnapshotReceived]) -> None:
        """Record each account's latest snapshot counts, the newest fill row
        committed before each snapshot began with them."""
        if not snapshots:
            return
        async with self._writing() as conn:
            await certificates.save_snapshots(conn, snapshots, utc_micros(datetime.now(UTC)))

    async def quarantined_counts(self, firm: str, day: date) -> dict[str, int]:
        async with self._reading() as conn:
            return await certificates.quarantined_counts(conn, firm, day)

    async def sealed_days(self, since: date | None = None, until: date | None = None, *,
                          latest: bool = False) -> list[SealedDay]:
        async with self._reading() as conn:
            return await certificates.sealed_days(conn, since, until, latest)

    async def sealed_through(self, firm: str) -> date | None:
        rows = await self._all("SELECT max(trade_date) FROM sealed_days WHERE firm = ?", (firm,))
        return date.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    async def seals(self, since: date | None = None) -> list[Seal]:
        rows = await self._all(
            "SELECT s.firm, s.account, s.trade_date, s.fills, s.volume, s.busted, "
            "d.reconciled_at, d.sealed_at, "
            "(SELECT count(*) FROM amendments a WHERE a.firm = s.firm AND a.account = s.account "
            " AND a.trade_date = s.trade_date) "
            "FROM seals s JOIN sealed_days d ON d.firm = s.firm AND d.trade_date = s.trade_date "
            "WHERE s.trade_date >= ? ORDER BY s.trade_date, s.firm, s.account",
            ((since or date.min).isoformat(),))
        return [
            Seal(row[0], row[1], date.fromisoformat(row[2]), row[3], row[4], row[5],
                 None if row[6] is None else from_micros(row[6]), from_micros(row[7]), row[8])
            for row in rows
        ]

    async def open_gap(self, instance: str, started_at: datetime, reason: str) -> int:
        async with self._writing() as conn:
            cursor = await conn.execute(
                "INSERT INTO gaps (instance, started_at, reason) VALUES (?, ?, ?)",
                (instance, utc_micros(started_at), reason))
            return int(cursor.lastrowid or 0)

    async def close_gap(self, gap_id: int, ended_at: datetime, unrecoverable: bool) -> None:
        async with self._writing() as conn:
            await conn.execute(
                "UPDATE gaps SET ended_at = ?, unrecoverable = ? WHERE id = ?",
                (utc_micros(ended_at), int(unrecoverable), gap_id))

    async def gaps(self, *, open_only: bool = False) -> list[Gap]:
        where = " WHERE unrecoverable = 1 AND acknowledged_at IS NULL" if open_only else ""
        sql = (
            "SELECT id, instance, started_at, ended_at, reason, unrecoverable, acknowledged_at "
            "FROM gaps" + where + " ORDER BY started_at DESC, id DESC"
        )
        rows = await self._all(sql)
        return [
            Gap(row[0], row[1], from_micros(row[2]),
                None if row[3] is None else from_micros(row[3]), row[4], bool(row[5]),
                None if row[6] is None else from_micros(row[6]))
            for row in rows
        ]

    async def acknowledge_gap(self, gap_id: int) -> bool:
        async with self._writing() as conn:
            cursor = await conn.execute(
                "UPDATE gaps SET acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL",
                (utc_micros(datetime.now(UTC)), gap_id))
            if cursor.rowcount:
                return True
            found = await conn.execute_fetchall("SELECT 1 FROM gaps WHERE id = ?", (gap_id,))
            return bool(list(found))

    async def recovered_since(self, firm: str, accounts: Sequence[str], day: date,
                              since: datetime) -> dict[str, int]:
        found: dict[str, int] = {}
        async with self._reading() as conn:
            for account in accounts:
                # The account index narrows to (account, day); the rest is a filter.
                ((count,),) = await conn.execute_fetchall(
                    "SELECT count(*) FROM fills WHERE account = ? AND trade_date = ? "
                    "AND firm = ? AND historical = 1 AND captured_at >= ?",
                    (account, day.isoformat(), firm, utc_micros(since)))
                if count:
                    found[account] = int(count)
        return found

    async def set_state(self, instance: str, values: dict[str, str]) -> None:
        async with self._writing() as conn:
            await conn.executemany(
                "INSERT INTO daemon_state (instance, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (instance, key) DO UPDATE SET value = excluded.value",
                [(instance, key, value) for key, value in values.items()])

    async def state(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for instance, key, value in await self._all(
                "SELECT instance, key, value FROM daemon_state ORDER BY instance, key"):
            found.setdefault(instance, {})[key] = value
        return found

    async def last_fills(self, accounts: Sequence[str]) -> dict[str, tuple[datetime, date, int]]:
        """Per account number: its newest fill's time, its latest trade date and
        that date's live fill count (index seeks per account, not a scan)."""
        found: dict[str, tuple[datetime, date, int]] = {}
        async with self._reading() as conn:
            for account in accounts:
                rows = list(await conn.execute_fetchall(
                    "SELECT max(trade_date) FROM fills WHERE account = ?", (account,)))
                if not rows or rows[0][0] is None:
                    continue
                day = rows[0][0]
                (row,) = await conn.execute_fetchall(
                    "SELECT max(exchange_time), count(*) FILTER (WHERE busted_at IS NULL) "
                    "FROM fills WHERE account = ? AND trade_date = ?", (account, day))
                found[account] = (from_micros(row[0]), date.fromisoformat(day), row[1])
        return found

    # --- maintenance (SQLite only) --------------------------------------------

    async def backup(self, destination: Path) -> None:
        """An online, consistent copy of the store, in steps on a connection of
        its own: the daemon keeps committing meanwhile (:mod:`.backup`)."""
        from fillcapture.store.backup import backup

        await backup(self.path, destination)

    async def checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate it to nothing
        (``wal_checkpoint(TRUNCATE)``), freeing its space; True if it did.
        Waits only briefly for a reader in the way (the API's): the capture
        path shares this connection, and the next call tries again."""
        self._check_writable()
        async with self._reading() as conn:
            await conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_BUSY_MS:d}")
            try:
                rows = list(await conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)"))
            finally:
                await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        return bool(rows) and rows[0][0] == 0

    async def optimize(self) -> None:
        async with self._reading() as conn:
            await conn.execute("PRAGMA optimize")

    async def integrity_check(self) -> list[str]:
        """SQLite's findings; ``["ok"]`` for a sound file. Damage bad enough to
        stop the check itself is a finding too, not an exception."""
        async with self._reading() as conn:
            try:
                rows = await conn.execute_fetchall("PRAGMA integrity_check")
            except sqlite3.DatabaseError as exc:
                return [f"integrity_check failed: {exc}"]
            return [str(row[0]) for row in rows]

    async def prune(self, before: date) -> int:
        """Delete fills and busts of trade dates before ``before`` (retention); return
        how many fills went."""
        async with self._writing() as conn:
            cursor = await conn.execute(
                "DELETE FROM fills WHERE trade_date < ?", (before.isoformat(),))
            await conn.execute(
                "DELETE FROM snapshot_counts WHERE trade_date < ?", (before.isoformat(),))
            await conn.execute(
                "DELETE FROM busts WHERE NOT EXISTS (SELECT 1 FROM fills f WHERE "
                "f.firm = busts.firm AND f.order_id = busts.order_id "
                "AND f.trade_key = busts.trade_key AND f.leg_index = busts.leg_index)")
            return int(cursor.rowcount)

    # --- ownership registry ---------------------------------------------------

    async def seed_registry(self, owners: Sequence[Owner], *,
                            force: bool = False) -> list[Change]:
        """Add users and accounts not registered yet. The store is the authority
        once seeded: an account registered to another user keeps that owner
        (the CLI may have moved it), which is logged. An entry that would move
        fills between users (:mod:`fillcapture.store.moves`) is refused with
        :class:`MoveRefused` (key ``users``), nothing changed, unless ``force``;
        returns what changed hands."""
        for owner in owners:
            _check_names(owner.user, [owner.account])
        now = utc_text(datetime.now(UTC))
        async with self._writing() as conn:
            before = await _owned(conn)
            existing = {
                (row[0], row[1]): row[2]
                for row in await conn.execute_fetchall(
                    "SELECT firm, account, user_name FROM user_accounts"
                )
            }
            await conn.executemany(
                "INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)",
                [(name, now) for name in dict.fromkeys(owner.user for owner in owners)],
            )
            await conn.executemany(
                "INSERT OR IGNORE INTO user_accounts (firm, account, user_name) VALUES (?, ?, ?)",
                [(owner.firm or "", owner.account, owner.user) for owner in owners],
            )
            found = await _moved(conn, before, force, "users")
        for owner in owners:
            holder = existing.get((owner.firm or "", owner.account))
            if holder is not None and holder != owner.user:
                log.warning(
                    "store.registry_seed_conflict",
                    account=owner.account,
                    firm=owner.firm,
                    configured_user=owner.user,
                    registered_user=holder,
                )
        return found

    async def registry(self) -> list[Owner]:
        """Every (user, firm, account) row, as committed now (by any process),
        and for a row naming an account by code or T4 id, the same row with
        the account's number once the account has been seen."""
        rows = await self._all(
            "SELECT DISTINCT user_name, firm, account FROM owned_numbers "
            "ORDER BY user_name, firm, account"
        )
        return [Owner(row[0], row[1] or None, row[2]) for row in rows]

    async def add_user(self, name: str, accounts: Sequence[str], firm: str | None = None, *,
                       force: bool = False) -> list[Change]:
        """Create ``name`` if needed and give it ``accounts`` (at ``firm``, or at
        any firm). Raises :class:`MoveRefused`, changing nothing, if that would
        move fills between users (another user owns one of the accounts under
        the same firm key, or firm-less where ``firm`` is given, or at a firm
        a firm-less entry would not reach), unless ``force``: then the
        accounts are ``name``'s; returns what changed hands."""
        _check_names(name, accounts)
        key = firm or ""
        wanted = list(dict.fromkeys(accounts))
        async with self._writing() as conn:
            before = await _owned(conn)
            await conn.execute(
                "INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)",
                (name, utc_text(datetime.now(UTC))),
            )
            await conn.executemany(
                "INSERT INTO user_accounts (firm, account, user_name) VALUES (?, ?, ?) "
                "ON CONFLICT (firm, account) DO UPDATE SET user_name = excluded.user_name",
                [(key, account, name) for account in wanted],
            )
            return await _moved(conn, before, force)

    async def remove_user(self, name: str, *, force: bool = False) -> list[Change] | None:
        """Remove ``name`` and its accounts; ``None`` if there was no such user.
        Raises :class:`MoveRefused`, changing nothing, if that hands fills of
        its firm-specific entries to another user's firm-less one, unless
        ``force``; returns what changed hands."""
        async with self._writing() as conn:
            before = await _owned(conn)
            # user_accounts rows go with it: ON DELETE CASCADE (foreign_keys=ON).
            cursor = await conn.execute("DELETE FROM users WHERE name = ?", (name,))
            if int(cursor.rowcount) == 0:
                return None
            return await _moved(conn, before, force)

    async def users(self) -> dict[str, list[Owner]]:
        """Every user with its account rows; a user with no accounts maps to ``[]``."""
        rows = await self._all(
            "SELECT u.name, a.firm, a.account FROM users u "
            "LEFT JOIN user_accounts a ON a.user_name = u.name "
            "ORDER BY u.name, a.firm, a.account"
        )
        found: dict[str, list[Owner]] = {}
        for name, firm, account in rows:
            owned = found.setdefault(name, [])
            if account is not None:
                owned.append(Owner(name, firm or None, account))
        return found

    async def user_accounts(self, name: str) -> list[Owner] | None:
        """``name``'s account rows (``[]`` for none), an account named by code
        or T4 id as its number once seen; ``None`` if there is no such user."""
        rows = await self._all(
            "SELECT DISTINCT u.name, a.firm, a.account FROM users u "
            "LEFT JOIN owned_numbers a ON a.user_name = u.name "
            "WHERE u.name = ? ORDER BY a.firm, a.account", (name,))
        if not rows:
            return None
        return [Owner(name, firm or None, account) for _, firm, account in rows
                if account is not None]

    # --- API tokens -----------------------------------------------------------

    async def issue_token(self, name: str, token_hash: str, *, admin: bool) -> None:
        """Record a token by its hash, replacing ``name``'s previous token of the
        same kind: issuing again is how a lost or leaked token is revoked."""
        _check_names(name, [])
        async with self._writing() as conn:
            if not admin and not list(await conn.execute_fetchall(
                    "SELECT 1 FROM users WHERE name = ?", (name,))):
                raise StoreError(f"no user named {name!r}")
            await conn.execute(
                "DELETE FROM api_tokens WHERE user_name = ? AND admin = ?", (name, int(admin)))
            await conn.execute(
                "INSERT INTO api_tokens (user_name, token_hash, admin, created_at) "
                "VALUES (?, ?, ?, ?)",
                (name, token_hash, int(admin), utc_micros(datetime.now(UTC))))

    async def revoke_tokens(self, name: str) -> int:
        async with self._writing() as conn:
            cursor = await conn.execute("DELETE FROM api_tokens WHERE user_name = ?", (name,))
            return int(cursor.rowcount)

    async def token_holder(self, token_hash: str) -> TokenHolder | None:
        rows = await self._all(
            "SELECT user_name, admin FROM api_tokens WHERE token_hash = ?", (token_hash,))
        return TokenHolder(rows[0][0], bool(rows[0][1])) if rows else None

    # --- query side -----------------------------------------------------------

    async def fill_page(self, query: FillQuery, after: FillKey | None, limit: int) -> FillPage:
        """Up to ``limit`` matching fills after ``after``, in :meth:`fills` order.

        Read through a connection of its own, like :meth:`fills`: a large page
        does not hold up the short reads that share the store's connection.
        """
        sql, params = _page_select(query, after, limit + 1)  # one more: is there a next?
        async with self._own_reader() as reader:
            rows = list(await reader.execute_fetchall(sql, params))
        fills = [stored_fill(row[1:]) for row in rows[:limit]]
        if len(rows) <= limit:
            return FillPage(fills, None)
        return FillPage(fills, FillKey(fills[-1].exchange_time, rows[limit - 1][0]))

    async def account_activity(self, name: str) -> list[AccountActivity]:
        """Per registry entry of ``name``: the recorded activity of the days
        the summary covers, and the fills of later days. An entry naming its
        firm owns that firm's fills of the account; a firm-less entry those at
        every firm no other entry names (the precedence of :data:`_OWNER`)."""
        found: list[AccountActivity] = []
        owners = await self.user_accounts(name) or []
        if not owners:
            return found
        async with self._own_reader() as reader:
            coverage = {row[0]: row[1] for row in await reader.execute_fetchall(
                "SELECT firm, through FROM summary_coverage")}
            firms = [row[0] for row in await reader.execute_fetchall(
                _DISTINCT.format(column="firm"))]
            for owner in owners:
                if owner.firm:
                    owned = [owner.firm]
                else:
                    claimed = {row[0] for row in await reader.execute_fetchall(
                        "SELECT firm FROM owned_numbers WHERE account = ? AND firm <> ''",
                        (owner.account,))}
                    owned = [firm for firm in firms if firm not in claimed]
                parts: list[sqlite3.Row] = []
                for firm in owned:
                    params = (owner.account, firm, coverage.get(firm, ""))
                    parts.extend(await reader.execute_fetchall(_RECORDED_ACTIVITY, params))
                    parts.extend(await reader.execute_fetchall(_LIVE_ACTIVITY, params))
                firsts = [part[3] for part in parts if part[3] is not None]
                lasts = [part[4] for part in parts if part[4] is not None]
                found.append(AccountActivity(
                    owner.firm, owner.account, sum(part[0] for part in parts),
                    sum(part[1] for part in parts), sum(part[2] for part in parts),
                    from_micros(min(firsts)) if firsts else None,
                    from_micros(max(lasts)) if lasts else None))
        return found

    @asynccontextmanager
    async def _own_reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection for one longer read, sqlite3 errors as StoreError."""
        if self._conn is None and not self._dropped:
            raise StoreError(f"{self.path}: store is not open")
        reader = await connect(self.path, readonly=True)
        try:
            yield reader
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc
        finally:
            await reader.close()

    async def fills(self, query: FillQuery) -> AsyncGenerator[StoredFill, None]:
        """Stream matching fills in (exchange_time, id) order, ``PAGE_ROWS`` at a time.

        Each stream reads through its own read-only connection, so it sees one
        consistent snapshot and never holds up the capture path's connection.
        Close an abandoned stream (``contextlib.aclosing``) to free it early.
        """
        if self._conn is None and not self._dropped:
            raise StoreError(f"{self.path}: store is not open")
        sql, params = _select(query)
        reader = await connect(self.path, readonly=True)
        self._readers.add(reader)
        try:
            cursor = await reader.execute(sql, params)
            while rows := await cursor.fetchmany(PAGE_ROWS):
                for row in rows:
                    yield stored_fill(row)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc
        except ValueError as exc:
            if reader in self._readers:
                raise
            # aiosqlite's complaint when close() shut the reader under us.
            raise StoreError(f"{self.path}: store closed while reading fills") from exc
        finally:
            self._readers.discard(reader)
            await reader.close()  # closes the cursor too; a no-op if already closed

    async def count_fills(self) -> int:
        """How many fills are stored, busted ones included."""
        async with self._reading() as conn:
            return await _scalar(conn, "SELECT count(*) FROM fills")

    # --- outbox (publishing) --------------------------------------------------

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
        busts: list[tuple[StoredFill, datetime]] = []
        last_bust = after.busts
        for bust_id, fill_row_id, busted_at, *row in bust_rows:
            if fill_row_id > last_fill:
                break
            busts.append((stored_fill(row), from_micros(busted_at)))
            last_bust = bust_id
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


async def _amend(conn: aiosqlite.Connection, fill: Fill, kind: str, now: int) -> None:
    day = fill.trade_date.isoformat()
    await conn.execute(
        "INSERT INTO amendments (firm, account, trade_date, kind, order_id, trade_key, "
        "leg_index, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (fill.firm, fill.account, day, kind, fill.order_id,
         fill.trade_key, OUTRIGHT if fill.leg_index is None else fill.leg_index, now))
    await _invalidate_positions(conn, fill.firm, day)


async def _invalidate_positions(conn: aiosqlite.Connection, firm: str, day: str) -> None:
    """Inside the caller's transaction: ``firm``'s fills of ``day`` changed, so
    positions recorded for it or later no longer hold."""
    cursor = await conn.execute(
        "DELETE FROM position_days WHERE firm = ? AND trade_date >= ?", (firm, day))
    if cursor.rowcount:
        await conn.execute(
            "DELETE FROM positions WHERE firm = ? AND trade_date >= ?", (firm, day))
    cursor = await conn.execute(
        "UPDATE summary_coverage SET through = date(?, '-1 day') "
        "WHERE firm = ? AND through >= ?", (day, firm, day))
    if cursor.rowcount:
        await conn.execute(
            "DELETE FROM summary_rows WHERE firm = ? AND trade_date >= ?", (firm, day))
        await conn.execute(
            "DELETE FROM activity_days WHERE firm = ? AND trade_date >= ?", (firm, day))
    # Recorded even when nothing was deleted: a computation under way may be
    # about to record this day.
    await conn.execute(
        "INSERT INTO position_invalidations (firm, trade_date, at) VALUES (?, ?, ?)",
        (firm, day, utc_micros(datetime.now(UTC))))


_SUMMARY_COLUMNS = (
    "trade_date, firm, account, market_id, buys, buy_volume, buy_vwap, sells, sell_volume, "
    "sell_vwap, pnl_points, net_position, unknown_side, spread_legs"
)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _lots_text(lots: Lots) -> str:
    return " ".join(f"{price}:{volume}" for price, volume in lots)


def _lots(text: str) -> Lots:
    items = (item.partition(":") for item in text.split())
    return tuple((Decimal(price), int(volume)) for price, _, volume in items)


# The distinct values of an index's leading column, one index probe each
# (a loose index scan): a handful of firms or accounts among millions of rows.
_DISTINCT = (
    "WITH RECURSIVE v(value) AS ("
    "SELECT (SELECT min({column}) FROM fills) "
    "UNION ALL SELECT (SELECT min({column}) FROM fills WHERE {column} > v.value) "
    "FROM v WHERE v.value IS NOT NULL) "
    "SELECT value FROM v WHERE value IS NOT NULL"
)


async def _insert(conn: aiosqlite.Connection, fills: Sequence[Fill], captured_at: int) -> int:
    """Insert ``fills`` (duplicates absorbed) inside the caller's transaction;
    return how many were new."""
    # Legs and spread trades are rare: outright fills keep the plain statement.
    parts = [fill for fill in fills if fill.kind or fill.leg_index is not None]
    if parts:
        fills = [fill for fill in fills if not is_spread_part(fill)]
    new = 0
    # Rows are built one statement at a time: a batch can be tens of
    # thousands of fills, and only one statement's rows need to exist.
    for start, size in _chunks(len(fills)):
        rows = fill_rows(fills[start : start + size], captured_at)
        cursor = await conn.execute(_insert_sql(size), list(itertools.chain(*rows)))
        new += int(cursor.rowcount)
    if parts:
        new += await spreads.insert(conn, parts, captured_at, _invalidate_positions)
    if new < len(fills) + len(parts):
        await _fill_in_sides(conn, fills, parts)
    return new


_OPPOSITE = {"BUY": "SELL", "SELL": "BUY"}


async def _fill_in_sides(conn: aiosqlite.Connection, fills: Sequence[Fill],
                         parts: Sequence[Fill] = ()) -> None:
    """Give stored side-less fills the side a duplicate of theirs now carries
    (for legs and spread trades, the order side: a leg's own follows from it).

    Only called when the batch held duplicates, and a no-op unless side-less
    fills exist at all (they are rare and short-lived): the check is one probe
    of the partial index, so replaying snapshots costs next to nothing extra.
    """
    if not await _scalar(
            conn, f"SELECT EXISTS (SELECT 1 FROM fills WHERE {_SIDELESS})"):  # noqa: S608
        return
    ordered = [(fill, order_side_of(fill)) for fill in parts]
    await conn.executemany(_ORDER_SIDE_OF_FILL, [
        {"side": side.value, "opposite": _OPPOSITE[side.value], "firm": fill.firm,
         "account_id": fill.account_id, "order_id": fill.order_id,
         "trade_key": fill.trade_key,
         "leg_index": OUTRIGHT if fill.leg_index is None else fill.leg_index}
        for fill, side in ordered if side is not None])
    await conn.executemany(
        _SIDE_OF_FILL,
        [
            (
                fill.side.value,
                fill.firm,
                fill.account_id,
                fill.order_id,
                fill.trade_key,
                OUTRIGHT if fill.leg_index is None else fill.leg_index,
            )
            for fill in fills
            if fill.side is not None
        ],
    )


def _select(query: FillQuery) -> tuple[str, dict[str, Any]]:
    """The SELECT for ``query``: the owner, then :data:`SELECT_COLUMNS`."""
    where, params = _conditions(query)
    columns = ", ".join(f"f.{column}" for column in SELECT_COLUMNS)
    sql = f"SELECT {_OWNER}, {columns} FROM fills f"  # noqa: S608 - fixed text, values bound
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY f.exchange_time, f.id", params


def _page_select(query: FillQuery, after: FillKey | None, limit: int
                 ) -> tuple[str, dict[str, Any]]:
    """As :func:`_select`, led by the row id, from after ``after`` (a keyset:
    the row-value comparison follows the ORDER BY exactly), ``limit`` rows."""
    where, params = _conditions(query)
    if after is not None:
        where.append("(f.exchange_time, f.id) > (:after_time, :after_row)")
        params["after_time"] = utc_micros(after.exchange_time)
        params["after_row"] = after.row
    columns = ", ".join(f"f.{column}" for column in SELECT_COLUMNS)
    sql = f"SELECT f.id, {_OWNER}, {columns} FROM fills f"  # noqa: S608 - fixed text
    if where:
        sql += " WHERE " + " AND ".join(where)
    params["limit"] = limit
    return sql + " ORDER BY f.exchange_time, f.id LIMIT :limit", params


def _conditions(query: FillQuery) -> tuple[list[str], dict[str, Any]]:
    """``query``'s WHERE terms (to be joined with AND) and their parameters."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if query.user is not None:
        # The IN narrows to the user's account numbers through the account
        # index; the owner test then applies firm-specific precedence.
        where.append(
            "f.account IN (SELECT account FROM owned_numbers WHERE user_name = :user) "  # noqa: S608
            f"AND {_OWNER} = :user"
        )
        params["user"] = query.user
    if query.account is not None:
        where.append("f.account = :account")
        params["account"] = query.account
    if query.firm is not None:
        where.append("f.firm = :firm")
        params["firm"] = query.firm
    if query.since is not None:
        where.append("f.trade_date >= :since")
        params["since"] = query.since.isoformat()
    if query.until is not None:
        where.append("f.trade_date <= :until")
        params["until"] = query.until.isoformat()
    if query.account is not None and query.since is not None:
        # Implied by the terms above, but it lets an account's fills be read
        # in time order (fills_account_time) from the first one of those
        # trade dates, found among a few index entries per day, instead of
        # from the account's first fill ever.
        last = " AND trade_date <= :until" if query.until is not None else ""
        where.append(
            "f.exchange_time >= (SELECT min(exchange_time) FROM fills "  # noqa: S608 - constant
            "INDEXED BY fills_account_date WHERE account = :account "
            f"AND trade_date >= :since{last})")
        if query.until is not None:
            # And to the last of them, not on through the account's later fills.
            where.append(
                "f.exchange_time <= (SELECT max(exchange_time) FROM fills "
                "INDEXED BY fills_account_date WHERE account = :account "
                "AND trade_date >= :since AND trade_date <= :until)")
    if not query.include_busted:
        where.append("f.busted_at IS NULL")
    if query.market_id is not None:
        where.append("f.market_id = :market_id")
        params["market_id"] = query.market_id
    if query.side is not None:
        where.append("f.side = :side")
        params["side"] = query.side.value
    if query.time_from is not None:
        where.append("f.exchange_time >= :time_from")
        params["time_from"] = utc_micros(query.time_from)
    if query.time_to is not None:
        where.append("f.exchange_time < :time_to")
        params["time_to"] = utc_micros(query.time_to)
    return where, params


async def _owned(conn: aiosqlite.Connection) -> list[Owner]:
    """The registry in account numbers (``owned_numbers``), within ``conn``'s transaction."""
    rows = await conn.execute_fetchall(
        "SELECT DISTINCT user_name, firm, account FROM owned_numbers")
    return [Owner(row[0], row[1] or None, row[2]) for row in rows]


async def _moved(conn: aiosqlite.Connection, before: list[Owner], force: bool,
                 key: str = "") -> list[Change]:
    """What the transaction's change handed from one user to another; raises
    :class:`MoveRefused` (rolling it back) if anything and not ``force``."""
    found = changes(before, await _owned(conn))
    if found and not force:
        raise MoveRefused(found, key)
    return found


def _check_names(user: str, accounts: Iterable[str]) -> None:
    for text, what in [(user, "user name"), *((account, "account number") for account in accounts)]:
        if not text or text != text.strip():
            raise StoreError(f"{what} {text!r} is blank or padded")


async def _scalar(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> int:
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0
