"""The capture path's writes, each inside the caller's transaction.

:class:`~fillcapture.store._sqlite.capture.CaptureRole` runs them, one call
or a whole writer batch per transaction.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence

import aiosqlite

from fillcapture.model import (
    Bust,
    Fill,
    Market,
    OrderRecount,
    OrderSide,
)
from fillcapture.store._sqlite import spreads
from fillcapture.store._sqlite.plumbing import scalar
from fillcapture.store._sqlite.rows import (
    INSERT_COLUMNS,
    OUTRIGHT,
    fill_rows,
    utc_micros,
)
from fillcapture.store._sqlite.shared import SIDELESS, invalidate_positions
from fillcapture.store.columns import is_spread_part
from fillcapture.store.rules import opposite, order_side_of

ROWS_PER_STATEMENT = 1000
"""Fills per multi-row INSERT (16,000 parameters; SQLite allows 32,766).

One statement per 1,000 rows rather than executemany(): the sqlite3 module
releases and retakes the GIL around every statement step, and while the event
loop decodes frames each retake can wait up to a switch interval. Per row,
that made the writer thread crawl; per 1,000 rows it does not matter."""


# DO NOTHING rather than an upsert setting the side: the change count is then
# exactly the number of new fills (see _fill_in_sides). Not OR IGNORE: that
# would also skip rows breaking NOT NULL or CHECK, silently losing a fill.
_ROW = f"({', '.join('?' * len(INSERT_COLUMNS))})"


_CONFLICT = "ON CONFLICT (firm, order_id, trade_key, leg_index) DO NOTHING"


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


_SIDE_OF_FILL = (
    "UPDATE fills SET side = ? WHERE firm = ? AND account_id = ? AND order_id = ? "  # noqa: S608
    f"AND trade_key = ? AND leg_index = ? AND {SIDELESS}"
)


# The order's side (:side, and :opposite) given to a fill: a leg's side is
# it or its opposite by the leg's direction (none while the leg is pending);
# the SQL form of fillcapture.store.rules.leg_side.
_ORDER_SIDE = (
    "side = CASE WHEN kind <> 1 OR leg_sign = 1 THEN :side "
    "WHEN leg_sign = -1 THEN :opposite END, "
    "order_side = CASE WHEN kind = 1 THEN :side END"
)


_ORDER_SIDE_OF_FILL = (
    f"UPDATE fills SET {_ORDER_SIDE} WHERE firm = :firm AND "  # noqa: S608 - constant text
    "account_id = :account_id AND order_id = :order_id AND trade_key = :trade_key "
    f"AND leg_index = :leg_index AND {SIDELESS}"
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
    f"account_id = :account_id AND order_id = :order_id AND {SIDELESS}"
)


# The earliest trade date of an order's side-less fills, if it is a day
# sealed or recorded for the firm (else NULL).
_SIDELESS_RECORDED_DAY = (
    "SELECT day FROM (SELECT min(trade_date) AS day FROM fills WHERE firm = :firm "  # noqa: S608
    f"AND account_id = :account_id AND order_id = :order_id AND {SIDELESS}) "
    "WHERE day <= max("
    "coalesce((SELECT max(trade_date) FROM sealed_days WHERE firm = :firm), ''), "
    "coalesce((SELECT through FROM summary_coverage WHERE firm = :firm), ''), "
    "coalesce((SELECT max(trade_date) FROM position_days WHERE firm = :firm), ''))"
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




Conn = aiosqlite.Connection


async def insert_busts(conn: Conn, busts: Sequence[Bust], captured_at: int) -> tuple[int, int]:
    """Store each busted fill if new, mark it busted (the first bust time
    stays), and keep the bust as its own record; return (new fills, new busts).
    The fill comes from the bust message, so a fill busted while the daemon
    was away is still stored, busted."""
    rows = [
        (
            bust.fill.firm, bust.fill.account_id, bust.fill.account, bust.fill.order_id,
            bust.fill.trade_key,
            OUTRIGHT if bust.fill.leg_index is None else bust.fill.leg_index,
            utc_micros(bust.busted_at), captured_at,
        )
        for bust in busts
    ]
    new_fills = await insert(conn, [bust.fill for bust in busts], captured_at)
    await conn.executemany(_MARK_BUSTED, [(r[6], r[0], r[3], r[4], r[5]) for r in rows])
    cursor = await conn.executemany(_INSERT_BUST, rows)
    return new_fills, int(cursor.rowcount)


async def resolve_sides(conn: Conn, items: Sequence[OrderSide]) -> int:
    """Set the side of each order's side-less fills; return rows changed."""
    rows = [{"side": item.side.value, "opposite": opposite(item.side).value,
             "firm": item.firm, "account_id": item.account_id,
             "order_id": item.order_id} for item in items]
    # A side changes what the summary makes of a recorded (or sealed, so
    # perhaps being recorded) day; most late sides are of today's fills and
    # change nothing recorded.
    for item in items:
        async with conn.execute(_SIDELESS_RECORDED_DAY, {
                "firm": item.firm, "account_id": item.account_id,
                "order_id": item.order_id}) as cursor:
            found = await cursor.fetchone()
        if found is not None and found[0] is not None:
            await invalidate_positions(conn, item.firm, found[0])
    cursor = await conn.executemany(_RESOLVE_SIDE, rows)
    return int(cursor.rowcount)


async def save_markets(conn: Conn, markets: Sequence[Market], now: int) -> int:
    """Record markets' terms; a row changes only when a term did."""
    rows = [(m.market_id, m.exchange_id, m.contract_id, str(m.point_value), now)
            for m in markets]
    cursor = await conn.executemany(_SAVE_MARKET, rows)
    return int(cursor.rowcount)


async def bust_missing(conn: Conn, recount: OrderRecount, now: int) -> int:
    """Bust the stored live fills of ``recount``'s order that its complete
    snapshot list no longer carries, and resolve the order's unresolved busts
    in the quarantine; return the fills busted. Summaries recorded for their
    days are invalidated, as for any late bust."""
    busted_at = utc_micros(recount.busted_at)
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
        await invalidate_positions(conn, recount.firm, day)
    if missing:
        await conn.execute(
            "UPDATE quarantine SET resolved_at = ?, resolution = 'busted' "
            "WHERE firm = ? AND order_id = ? AND reason = 'bust_unresolved' "
            "AND resolved_at IS NULL", (now, recount.firm, recount.order_id))
    return len(missing)


async def insert_amendments(conn: Conn, fills: Sequence[Fill], busts: Sequence[Bust],
                            now: int) -> tuple[list[Fill], list[Bust]]:
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


async def _amend(conn: aiosqlite.Connection, fill: Fill, kind: str, now: int) -> None:
    day = fill.trade_date.isoformat()
    await conn.execute(
        "INSERT INTO amendments (firm, account, trade_date, kind, order_id, trade_key, "
        "leg_index, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (fill.firm, fill.account, day, kind, fill.order_id,
         fill.trade_key, OUTRIGHT if fill.leg_index is None else fill.leg_index, now))
    await invalidate_positions(conn, fill.firm, day)


async def newest_by_account(conn: aiosqlite.Connection, rows: int
                            ) -> dict[str, tuple[int, float]]:
    """Per account number: how many of the newest ``rows`` fill rows are its,
    and their newest exchange time (unix seconds). SQLite numbers each new row
    after the newest (a conflict takes no number), so the ``rows`` a
    transaction stored are the top of the primary key: one range read,
    grouped by SQLite, in the same statement step as the max."""
    found = await conn.execute_fetchall(
        "SELECT account, count(*), max(exchange_time) FROM fills "
        "WHERE id > (SELECT max(id) FROM fills) - ? GROUP BY account", (rows,))
    return {account: (int(stored), newest / 1e6) for account, stored, newest in found}


async def insert(conn: aiosqlite.Connection, fills: Sequence[Fill], captured_at: int) -> int:
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
        new += await spreads.insert(conn, parts, captured_at, invalidate_positions)
    if new < len(fills) + len(parts):
        await _fill_in_sides(conn, fills, parts)
    return new


async def _fill_in_sides(conn: aiosqlite.Connection, fills: Sequence[Fill],
                         parts: Sequence[Fill] = ()) -> None:
    """Give stored side-less fills the side a duplicate of theirs now carries
    (for legs and spread trades, the order side: a leg's own follows from it).

    Only called when the batch held duplicates, and a no-op unless side-less
    fills exist at all (they are rare and short-lived): the check is one probe
    of the partial index, so replaying snapshots costs next to nothing extra.
    """
    if not await scalar(
            conn, f"SELECT EXISTS (SELECT 1 FROM fills WHERE {SIDELESS})"):  # noqa: S608
        return
    ordered = [(fill, order_side_of(fill)) for fill in parts]
    await conn.executemany(_ORDER_SIDE_OF_FILL, [
        {"side": side.value, "opposite": opposite(side).value, "firm": fill.firm,
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
