"""The capture path's writes, each inside the caller's transaction.

:class:`~fillcapture.store._postgres.capture.CaptureRole` runs them, a whole
writer batch per transaction. Fills go in by ``COPY`` into a temporary
staging table, then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
(the fill identity is the conflict target, so a duplicate is absorbed and
the command's count is exactly the new fills); see :data:`ROWS_BY_COPY`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TypeAlias

import asyncpg

from fillcapture.model import Bust, Fill, Market, OrderRecount, OrderSide
from fillcapture.store._postgres import spreads
from fillcapture.store._postgres.rows import (
    INSERT_COLUMNS,
    OUTRIGHT,
    aware,
    column_type,
    fill_rows,
    is_spread_part,
)
from fillcapture.store._postgres.shared import SIDELESS, count, invalidate_positions
from fillcapture.store.rules import opposite, order_side_of

Conn: TypeAlias = asyncpg.Connection

ROWS_BY_COPY = 64
"""From this many fills a batch goes in by COPY through the staging table;
fewer take one multi-row INSERT (a COPY costs three round trips)."""

_IDENTITY = "(firm, order_id, trade_key, leg_index)"
_COLUMNS = ", ".join(INSERT_COLUMNS)

# One per connection, emptied at every commit (see stage()).
_STAGE = (
    "CREATE TEMP TABLE fill_stage ("
    + ", ".join(f"{column} {column_type(column)}" for column in INSERT_COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
_FROM_STAGE = (
    f"INSERT INTO fills ({_COLUMNS}) SELECT {_COLUMNS} FROM fill_stage "  # noqa: S608
    f"ON CONFLICT {_IDENTITY} DO NOTHING"
)
# A duplicate that knows the side fills in a stored fill's missing one.
_SIDES_FROM_STAGE = (
    "UPDATE fills f SET side = s.side FROM fill_stage s "
    "WHERE f.firm = s.firm AND f.order_id = s.order_id AND f.trade_key = s.trade_key "
    "AND f.leg_index = s.leg_index AND f.account_id = s.account_id "
    "AND s.side IS NOT NULL AND f.side IS NULL AND (f.kind <> 1 OR f.order_side IS NULL)"
)

_SIDE_OF_FILL = (
    "UPDATE fills SET side = $1 WHERE firm = $2 AND account_id = $3 AND order_id = $4 "  # noqa: S608
    f"AND trade_key = $5 AND leg_index = $6 AND {SIDELESS}"
)

# The order's side ($1, and its opposite $2) given to a fill: a leg's side is
# it or its opposite by the leg's direction (none while the leg is pending);
# the SQL form of fillcapture.store.rules.leg_side.
_ORDER_SIDE = (
    "side = CASE WHEN kind <> 1 OR leg_sign = 1 THEN $1 "
    "WHEN leg_sign = -1 THEN $2 END, "
    "order_side = CASE WHEN kind = 1 THEN $1 END"
)
_ORDER_SIDE_OF_FILL = (
    f"UPDATE fills SET {_ORDER_SIDE} WHERE firm = $3 AND "  # noqa: S608 - constant text
    f"account_id = $4 AND order_id = $5 AND trade_key = $6 AND leg_index = $7 AND {SIDELESS}"
)
_RESOLVE_SIDE = (
    f"UPDATE fills SET {_ORDER_SIDE} WHERE firm = $3 AND "  # noqa: S608 - constant text
    f"account_id = $4 AND order_id = $5 AND {SIDELESS}"
)

# The earliest trade date of an order's side-less fills, if it is a day
# sealed or recorded for the firm (else no row).
_SIDELESS_RECORDED_DAY = (
    "SELECT day FROM (SELECT min(trade_date) AS day FROM fills WHERE firm = $1 "  # noqa: S608
    f"AND account_id = $2 AND order_id = $3 AND {SIDELESS}) s "
    "WHERE day <= greatest((SELECT max(trade_date) FROM sealed_days WHERE firm = $1), "
    "(SELECT through FROM summary_coverage WHERE firm = $1), "
    "(SELECT max(trade_date) FROM position_days WHERE firm = $1))"
)

_MARK_BUSTED = (
    "UPDATE fills SET busted_at = $1 WHERE firm = $2 AND order_id = $3 AND trade_key = $4 "
    "AND leg_index = $5 AND busted_at IS NULL"
)
_INSERT_BUST = (
    "INSERT INTO busts (firm, account_id, account, order_id, trade_key, leg_index, busted_at, "  # noqa: S608
    f"captured_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT {_IDENTITY} DO NOTHING"
)
# A batch's busts in one statement: one array per column (a bust given twice
# is a conflict with itself, absorbed as any duplicate).
_INSERT_BUSTS = (
    "INSERT INTO busts (firm, account_id, account, order_id, trade_key, leg_index, busted_at, "  # noqa: S608
    "captured_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
    "$5::text[], $6::integer[], $7::timestamptz[], $8::timestamptz[]) "
    f"ON CONFLICT {_IDENTITY} DO NOTHING"
)

# A market's row changes (and counts) only when one of its terms did.
_SAVE_MARKET = (
    "INSERT INTO markets (market_id, exchange_id, contract_id, point_value, updated_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (market_id) DO UPDATE SET "
    "exchange_id = excluded.exchange_id, contract_id = excluded.contract_id, "
    "point_value = excluded.point_value, updated_at = excluded.updated_at "
    "WHERE (markets.exchange_id, markets.contract_id, markets.point_value) "
    "IS DISTINCT FROM (excluded.exchange_id, excluded.contract_id, excluded.point_value)"
)


def _values_sql(rows: int) -> str:
    width = len(INSERT_COLUMNS)
    values = ", ".join(
        "(" + ", ".join(f"${row * width + column + 1}" for column in range(width)) + ")"
        for row in range(rows))
    return (f"INSERT INTO fills ({_COLUMNS}) VALUES {values} "  # noqa: S608 - constant names
            f"ON CONFLICT {_IDENTITY} DO NOTHING")


async def stage(conn: Conn) -> None:
    """Create the connection's staging table: the pool runs this once for each
    connection it opens (a read-write store's), not every batch (a round trip
    and a catalogue lookup each time). It names its own column types, as the
    pool opens its first connection before the schema is migrated."""
    await conn.execute(_STAGE)


async def newest_by_account(conn: Conn, rows: int) -> dict[str, tuple[int, float]]:
    """Per account number: how many of the newest ``rows`` fill rows are its,
    and their newest exchange time (unix seconds). A transaction holding the
    outbox lock is handed the highest ids (a conflict may use one up, so they
    need not be consecutive): the ``rows`` it stored are the top of the
    primary key, read backwards and grouped by the server."""
    found = await conn.fetch(
        "SELECT account, count(*), max(exchange_time) FROM (SELECT account, exchange_time "
        "FROM fills ORDER BY id DESC LIMIT $1) newest GROUP BY account", rows)
    return {row[0]: (int(row[1]), row[2].timestamp()) for row in found}


async def insert(conn: Conn, fills: Sequence[Fill], captured_at: datetime) -> int:
    """Insert ``fills`` (duplicates absorbed) inside the caller's transaction;
    return how many were new."""
    parts = [fill for fill in fills if is_spread_part(fill)]
    if parts:
        fills = [fill for fill in fills if not is_spread_part(fill)]
    new = 0
    staged = False
    if len(fills) >= ROWS_BY_COPY:
        await conn.execute("DELETE FROM fill_stage")  # staged already in this transaction?
        await conn.copy_records_to_table(
            "fill_stage", records=fill_rows(fills, captured_at), columns=INSERT_COLUMNS)
        new = count(await conn.execute(_FROM_STAGE))
        staged = True
    elif fills:
        rows = fill_rows(fills, captured_at)
        new = count(await conn.execute(_values_sql(len(rows)),
                                       *(value for row in rows for value in row)))
    if parts:
        new += await spreads.insert(conn, parts, captured_at, invalidate_positions)
    if new < len(fills) + len(parts):
        await _fill_in_sides(conn, fills, parts, staged)
    return new


async def _fill_in_sides(conn: Conn, fills: Sequence[Fill], parts: Sequence[Fill],
                         staged: bool) -> None:
    """Give stored side-less fills the side a duplicate of theirs now carries
    (for legs and spread trades, the order side: a leg's own follows from it).
    A no-op unless side-less fills exist at all: one probe of fills_sideless."""
    if not await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM fills WHERE {SIDELESS})"):  # noqa: S608
        return
    ordered = [(fill, order_side_of(fill)) for fill in parts]
    for fill, side in ordered:
        if side is not None:
            await conn.execute(
                _ORDER_SIDE_OF_FILL, side.value, opposite(side).value, fill.firm,
                fill.account_id, fill.order_id, fill.trade_key,
                OUTRIGHT if fill.leg_index is None else fill.leg_index)
    if staged:
        await conn.execute(_SIDES_FROM_STAGE)
        return
    await conn.executemany(_SIDE_OF_FILL, [
        (fill.side.value, fill.firm, fill.account_id, fill.order_id, fill.trade_key,
         OUTRIGHT if fill.leg_index is None else fill.leg_index)
        for fill in fills if fill.side is not None])


async def insert_busts(conn: Conn, busts: Sequence[Bust], captured_at: datetime
                       ) -> tuple[int, int]:
    """Store each busted fill if new, mark it busted (the first bust time
    stays), and keep the bust as its own record; return (new fills, new busts)."""
    rows = [
        (bust.fill.firm, bust.fill.account_id, bust.fill.account, bust.fill.order_id,
         bust.fill.trade_key, OUTRIGHT if bust.fill.leg_index is None else bust.fill.leg_index,
         aware(bust.busted_at), captured_at)
        for bust in busts
    ]
    new_fills = await insert(conn, [bust.fill for bust in busts], captured_at)
    await conn.executemany(_MARK_BUSTED, [(r[6], r[0], r[3], r[4], r[5]) for r in rows])
    columns = [list(column) for column in zip(*rows, strict=True)]
    return new_fills, count(await conn.execute(_INSERT_BUSTS, *columns))


async def resolve_sides(conn: Conn, items: Sequence[OrderSide]) -> int:
    """Set the side of each order's side-less fills; return rows changed."""
    changed = 0
    for item in items:
        # A side changes what the summary makes of a recorded (or sealed, so
        # perhaps being recorded) day; most late sides change nothing recorded.
        day = await conn.fetchval(_SIDELESS_RECORDED_DAY, item.firm, item.account_id,
                                  item.order_id)
        if day is not None:
            await invalidate_positions(conn, item.firm, day)
        changed += count(await conn.execute(
            _RESOLVE_SIDE, item.side.value, opposite(item.side).value, item.firm,
            item.account_id, item.order_id))
    return changed


async def save_markets(conn: Conn, markets: Sequence[Market], now: datetime) -> int:
    """Record markets' terms; a row changes only when a term did."""
    changed = 0
    for m in markets:
        changed += count(await conn.execute(
            _SAVE_MARKET, m.market_id, m.exchange_id, m.contract_id, str(m.point_value), now))
    return changed


async def bust_missing(conn: Conn, recount: OrderRecount, now: datetime) -> int:
    """Bust the stored live fills of ``recount``'s order that its complete
    snapshot list no longer carries, and resolve the order's unresolved busts
    in the quarantine; return the fills busted. Summaries recorded for their
    days are invalidated, as for any late bust."""
    busted_at = aware(recount.busted_at)
    rows = await conn.fetch(
        "SELECT account_id, account, trade_key, leg_index, trade_date FROM fills "
        "WHERE firm = $1 AND order_id = $2 AND busted_at IS NULL",
        recount.firm, recount.order_id)
    missing = [row for row in rows if (row[2], None if row[3] < 0 else row[3])
               not in recount.trades]
    for account_id, account, trade_key, leg_index, day in missing:
        await conn.execute(_MARK_BUSTED, busted_at, recount.firm, recount.order_id,
                           trade_key, leg_index)
        await conn.execute(_INSERT_BUST, recount.firm, account_id, account, recount.order_id,
                           trade_key, leg_index, busted_at, now)
        await invalidate_positions(conn, recount.firm, day)
    if missing:
        await conn.execute(
            "UPDATE quarantine SET resolved_at = $1, resolution = 'busted' "
            "WHERE firm = $2 AND order_id = $3 AND reason = 'bust_unresolved' "
            "AND resolved_at IS NULL", now, recount.firm, recount.order_id)
    return len(missing)


async def insert_amendments(conn: Conn, fills: Sequence[Fill], busts: Sequence[Bust],
                            now: datetime) -> tuple[list[Fill], list[Bust]]:
    """Store fills and busts of sealed days one by one (they are few), and
    record each that changed something as an amendment of its day."""
    new_fills: list[Fill] = []
    new_busts: list[Bust] = []
    for fill in fills:
        if await insert(conn, [fill], now):
            new_fills.append(fill)
            await _amend(conn, fill, "fill", now)
    for bust in busts:
        fill = bust.fill
        leg = OUTRIGHT if fill.leg_index is None else fill.leg_index
        if await insert(conn, [fill], now):
            new_fills.append(fill)
        marked = count(await conn.execute(
            _MARK_BUSTED, aware(bust.busted_at), fill.firm, fill.order_id, fill.trade_key, leg))
        await conn.execute(_INSERT_BUST, fill.firm, fill.account_id, fill.account,
                           fill.order_id, fill.trade_key, leg, bust.busted_at, now)
        if marked:
            new_busts.append(bust)
            await _amend(conn, fill, "bust", now)
    return new_fills, new_busts


async def _amend(conn: Conn, fill: Fill, kind: str, now: datetime) -> None:
    day: date = fill.trade_date
    await conn.execute(
        "INSERT INTO amendments (firm, account, trade_date, kind, order_id, trade_key, "
        "leg_index, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        fill.firm, fill.account, day, kind, fill.order_id, fill.trade_key,
        OUTRIGHT if fill.leg_index is None else fill.leg_index, now)
    await invalidate_positions(conn, fill.firm, day)
