"""Spread legs in the PostgreSQL store: legs and spread-level trades inserted,
spread definitions recorded (table ``market_legs``), pending legs placed.

The SQLite engine's rules (:mod:`fillcapture.store._sqlite.spreads`), in
PostgreSQL's SQL; each function runs inside the caller's transaction. See
:mod:`fillcapture.feeds.t4.legs` for what legs, pending legs and
spread-level trades are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime

import asyncpg
import structlog

from fillcapture.model import Fill, SpreadDefinition, SpreadLeg
from fillcapture.store._postgres.rows import (
    INSERT_COLUMNS,
    SPREAD_COLUMNS,
    column_type,
    spread_rows,
)
from fillcapture.store._postgres.shared import RECORDED_THROUGH, count

log = structlog.get_logger(__name__)

Invalidate = Callable[[asyncpg.Connection, str, date], Awaitable[None]]
"""``invalidate(conn, firm, trade_date)``: the firm's fills of that day changed."""

_COLUMNS = INSERT_COLUMNS + SPREAD_COLUMNS
# Every part of a batch in one statement: one array per column, in order.
_INSERT = (
    f"INSERT INTO fills ({', '.join(_COLUMNS)}) SELECT * FROM unnest("  # noqa: S608
    + ", ".join(f"${n}::{column_type(column)}[]" for n, column in enumerate(_COLUMNS, 1))
    + ") ON CONFLICT (firm, order_id, trade_key, leg_index) DO NOTHING"
)

# An order with legs is a spread order: its spread-level trades stored as
# outright fills are marked. The orders ($1 firms, $2 order ids) of a batch
# in one statement each, through the identity's index.
_ORDERS = "unnest($1::text[], $2::text[]) AS o (firm, order_id)"
_SPREAD_TRADES_DAYS = (
    f"SELECT f.firm, min(f.trade_date) FROM fills f JOIN {_ORDERS} "  # noqa: S608
    "ON f.firm = o.firm AND f.order_id = o.order_id "
    "WHERE f.leg_index = -1 AND f.kind = 0 GROUP BY f.firm, f.order_id"
)
_MARK_SPREAD_TRADES = (
    f"UPDATE fills f SET kind = 2 FROM {_ORDERS} "  # noqa: S608
    "WHERE f.firm = o.firm AND f.order_id = o.order_id AND f.leg_index = -1 AND f.kind = 0"
)

# Pending legs of a spread placed on their legs' contracts (fills_leg_pending).
_PENDING_DAYS = (
    "SELECT f.firm, min(f.trade_date) FROM fills f JOIN market_legs l "
    "ON l.market_id = f.spread_market_id AND l.leg_index = f.leg_index "
    "WHERE f.kind = 1 AND f.leg_sign IS NULL AND f.spread_market_id = $1 GROUP BY f.firm"
)
_PLACE_PENDING = (
    "UPDATE fills f SET market_id = l.leg_market_id, leg_sign = l.direction, "
    "side = CASE WHEN f.order_side IS NULL THEN NULL "
    "WHEN l.direction = 1 THEN f.order_side "
    "WHEN f.order_side = 'BUY' THEN 'SELL' ELSE 'BUY' END "
    "FROM market_legs l WHERE f.kind = 1 AND f.leg_sign IS NULL "
    "AND f.spread_market_id = $1 AND l.market_id = $1 AND l.leg_index = f.leg_index"
)


async def insert(conn: asyncpg.Connection, parts: Sequence[Fill], captured_at: datetime,
                 invalidate: Invalidate) -> int:
    """Insert legs and spread-level trades (duplicates absorbed); return how
    many were new. Then their orders' spread-level trades stored as outright
    fills are marked, and legs stored pending whose spread's definition is
    recorded are placed."""
    rows = spread_rows(parts, captured_at)
    new = count(await conn.execute(_INSERT, *(list(column) for column in zip(*rows, strict=True))))
    orders = sorted({(fill.firm, fill.order_id) for fill in parts if fill.leg_index is not None})
    if orders:
        firms, order_ids = [firm for firm, _ in orders], [order for _, order in orders]
        days = {(row[0], row[1]) for row in await conn.fetch(_SPREAD_TRADES_DAYS, firms,
                                                             order_ids)}
        for firm, day in sorted(days):
            await _invalidate_if_recorded(conn, firm, day, invalidate)
        if days:
            await conn.execute(_MARK_SPREAD_TRADES, firms, order_ids)
    pending = {fill.spread_market_id or fill.market_id for fill in parts
               if fill.leg_index is not None and fill.leg_sign is None}
    if pending:
        await place_pending(conn, sorted(pending), invalidate)
    return new


async def save(conn: asyncpg.Connection, given: Sequence[SpreadDefinition], now: datetime,
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
        await conn.execute("DELETE FROM market_legs WHERE market_id = $1", definition.market_id)
        await conn.executemany(
            "INSERT INTO market_legs (market_id, leg_index, leg_market_id, ratio, direction, "
            "strategy_type, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(definition.market_id, index, leg.market_id, leg.ratio, leg.direction,
              definition.strategy_type, now) for index, leg in enumerate(definition.legs)])
    placed = await place_pending(conn, [definition.market_id for definition in given],
                                 invalidate)
    return changed, placed


async def place_pending(conn: asyncpg.Connection, spread_markets: Sequence[str],
                        invalidate: Invalidate) -> int:
    """Place the pending legs of ``spread_markets`` that their recorded
    definitions cover; return how many."""
    placed = 0
    for market_id in spread_markets:
        for firm, day in await conn.fetch(_PENDING_DAYS, market_id):
            await _invalidate_if_recorded(conn, firm, day, invalidate)
        placed += count(await conn.execute(_PLACE_PENDING, market_id))
    return placed


async def definitions(conn: asyncpg.Connection, market_ids: Sequence[str] | None
                      ) -> dict[str, SpreadDefinition]:
    """Recorded spread definitions (of ``market_ids`` only, if given)."""
    sql = ("SELECT market_id, leg_index, leg_market_id, ratio, direction, strategy_type "
           "FROM market_legs")
    args: list[list[str]] = []
    if market_ids is not None:
        sql += " WHERE market_id = ANY($1::text[])"
        args = [list(market_ids)]
    legs: dict[str, list[SpreadLeg]] = {}
    types: dict[str, int] = {}
    for row in await conn.fetch(sql + " ORDER BY market_id, leg_index", *args):
        legs.setdefault(row[0], []).append(SpreadLeg(row[2], row[3], row[4]))
        types[row[0]] = row[5]
    return {market_id: SpreadDefinition(market_id, types[market_id], tuple(items))
            for market_id, items in legs.items()}


async def _invalidate_if_recorded(conn: asyncpg.Connection, firm: str, day: date,
                                  invalidate: Invalidate) -> None:
    """``firm``'s fills of ``day`` changed what the summary makes of them:
    what is recorded of it or later is discarded, if anything may be."""
    through = await conn.fetchval(RECORDED_THROUGH, firm)
    if through is not None and day <= through:
        await invalidate(conn, firm, day)


def _legs_text(definition: SpreadDefinition) -> str:
    return " ".join(f"{'+' if leg.direction > 0 else '-'}{leg.ratio} {leg.market_id}"
                    for leg in definition.legs)
