"""Spread legs in the SQLite store: legs and spread-level trades inserted, spread
definitions recorded (table ``market_legs``), pending legs placed.

Each function runs inside the caller's transaction. A change to what the
daily summary makes of a recorded day (a leg placed, a trade marked as a
spread's) discards the positions and rows recorded of it and later, through
``invalidate`` (the store's own, given by :mod:`fillcapture.store.sqlite`).
See :mod:`fillcapture.feeds.t4.legs` for what legs, pending legs and
spread-level trades are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import aiosqlite
import structlog

from fillcapture.model import Fill, SpreadDefinition, SpreadLeg
from fillcapture.store._sqlite.rows import INSERT_COLUMNS, SPREAD_COLUMNS, spread_rows

log = structlog.get_logger(__name__)

Invalidate = Callable[[aiosqlite.Connection, str, str], Awaitable[None]]
"""``invalidate(conn, firm, trade_date)``: the firm's fills of that day changed."""

_COLUMNS = INSERT_COLUMNS + SPREAD_COLUMNS
_INSERT = (
    f"INSERT INTO fills ({', '.join(_COLUMNS)}) "  # noqa: S608 - constant names
    f"VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (firm, order_id, trade_key, leg_index) DO NOTHING"
)

# An order with legs is a spread order: its spread-level trades are marked.
_SPREAD_TRADES_DAY = (
    "SELECT min(trade_date) FROM fills WHERE firm = ? AND order_id = ? "
    "AND leg_index = -1 AND kind = 0"
)
_MARK_SPREAD_TRADES = (
    "UPDATE fills SET kind = 2 WHERE firm = ? AND order_id = ? AND leg_index = -1 AND kind = 0"
)

# Pending legs of a spread placed on their legs' contracts (fills_leg_pending).
_PENDING_DAYS = (
    "SELECT f.firm, min(f.trade_date) FROM fills f JOIN market_legs l "
    "ON l.market_id = f.spread_market_id AND l.leg_index = f.leg_index "
    "WHERE f.kind = 1 AND f.leg_sign IS NULL AND f.spread_market_id = ? GROUP BY f.firm"
)
_PLACE_PENDING = (
    "UPDATE fills SET market_id = l.leg_market_id, leg_sign = l.direction, "
    "side = CASE WHEN fills.order_side IS NULL THEN NULL "
    "WHEN l.direction = 1 THEN fills.order_side "
    "WHEN fills.order_side = 'BUY' THEN 'SELL' ELSE 'BUY' END "
    "FROM market_legs l WHERE fills.kind = 1 AND fills.leg_sign IS NULL "
    "AND fills.spread_market_id = :market AND l.market_id = :market "
    "AND l.leg_index = fills.leg_index"
)

# The latest trade date the firm has sealed or recorded positions or rows of.
_RECORDED_THROUGH = (
    "SELECT max("
    "coalesce((SELECT max(trade_date) FROM sealed_days WHERE firm = :firm), ''), "
    "coalesce((SELECT through FROM summary_coverage WHERE firm = :firm), ''), "
    "coalesce((SELECT max(trade_date) FROM position_days WHERE firm = :firm), ''))"
)


async def insert(conn: aiosqlite.Connection, parts: Sequence[Fill], captured_at: int,
                 invalidate: Invalidate) -> int:
    """Insert legs and spread-level trades (duplicates absorbed); return how
    many were new. Then their orders' spread-level trades stored as outright
    fills are marked, and legs stored pending whose spread's definition is
    recorded are placed."""
    cursor = await conn.executemany(_INSERT, spread_rows(parts, captured_at))
    new = int(cursor.rowcount)
    orders = {(fill.firm, fill.order_id) for fill in parts if fill.leg_index is not None}
    for firm, order_id in sorted(orders):
        async with conn.execute(_SPREAD_TRADES_DAY, (firm, order_id)) as found:
            row = await found.fetchone()
        if row is not None and row[0] is not None:
            await _invalidate_if_recorded(conn, firm, row[0], invalidate)
            await conn.execute(_MARK_SPREAD_TRADES, (firm, order_id))
    pending = {fill.spread_market_id or fill.market_id for fill in parts
               if fill.leg_index is not None and fill.leg_sign is None}
    if pending:
        await place_pending(conn, sorted(pending), invalidate)
    return new


async def save(conn: aiosqlite.Connection, given: Sequence[SpreadDefinition], now: int,
               invalidate: Invalidate) -> tuple[int, int]:
    """Record spreads' legs (a definition as recorded changes nothing) and
    place their pending legs; return (definitions new or changed, legs placed)."""
    known = await definitions(conn, [definition.market_id for definition in given])
    changed = 0
    for definition in given:
        before = known.get(definition.market_id)
        if before == definition:
            continue
        if before is not None:
            # Legs placed by the old definition stay where it put them.
            log.warning("spread.definition_changed", market_id=definition.market_id,
                        before=_legs_text(before), after=_legs_text(definition))
        changed += 1
        await conn.execute("DELETE FROM market_legs WHERE market_id = ?",
                           (definition.market_id,))
        await conn.executemany(
            "INSERT INTO market_legs (market_id, leg_index, leg_market_id, ratio, direction, "
            "strategy_type, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(definition.market_id, index, leg.market_id, leg.ratio, leg.direction,
              definition.strategy_type, now) for index, leg in enumerate(definition.legs)])
    placed = await place_pending(conn, [definition.market_id for definition in given],
                                 invalidate)
    return changed, placed


async def place_pending(conn: aiosqlite.Connection, spread_markets: Sequence[str],
                        invalidate: Invalidate) -> int:
    """Place the pending legs of ``spread_markets`` that their recorded
    definitions cover; return how many."""
    placed = 0
    for market_id in spread_markets:
        for firm, day in await conn.execute_fetchall(_PENDING_DAYS, (market_id,)):
            await _invalidate_if_recorded(conn, firm, day, invalidate)
        cursor = await conn.execute(_PLACE_PENDING, {"market": market_id})
        placed += int(cursor.rowcount)
    return placed


async def definitions(conn: aiosqlite.Connection, market_ids: Sequence[str] | None
                      ) -> dict[str, SpreadDefinition]:
    """Recorded spread definitions (of ``market_ids`` only, if given)."""
    sql = ("SELECT market_id, leg_index, leg_market_id, ratio, direction, strategy_type "
           "FROM market_legs")
    params: list[str] = []
    if market_ids is not None:
        sql += f" WHERE market_id IN ({', '.join('?' * len(market_ids))})"
        params = list(market_ids)
    legs: dict[str, list[SpreadLeg]] = {}
    types: dict[str, int] = {}
    for row in await conn.execute_fetchall(sql + " ORDER BY market_id, leg_index", params):
        legs.setdefault(row[0], []).append(SpreadLeg(row[2], row[3], row[4]))
        types[row[0]] = row[5]
    return {market_id: SpreadDefinition(market_id, types[market_id], tuple(items))
            for market_id, items in legs.items()}


async def _invalidate_if_recorded(conn: aiosqlite.Connection, firm: str, day: str,
                                  invalidate: Invalidate) -> None:
    """``firm``'s fills of ``day`` changed what the summary makes of them:
    what is recorded of it or later is discarded, if anything may be (the day
    is sealed or recorded); most such changes are of today's fills."""
    async with conn.execute(_RECORDED_THROUGH, {"firm": firm}) as cursor:
        found = await cursor.fetchone()
    if found is not None and found[0] and day <= found[0]:
        await invalidate(conn, firm, day)


def _legs_text(definition: SpreadDefinition) -> str:
    return " ".join(f"{'+' if leg.direction > 0 else '-'}{leg.ratio} {leg.market_id}"
                    for leg in definition.legs)
