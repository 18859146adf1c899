"""How fills become PostgreSQL rows and stored rows become ``StoredFill``s.

Times are ``timestamptz`` (timezone-aware datetimes both ways), trade dates
``date``; prices stay the exact text T4 sent. The column lists are the
SQLite engine's (:mod:`fillcapture.store._sqlite.rows`): one set of names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fillcapture.model import LEG, Fill, Side
from fillcapture.store._sqlite.rows import (
    INSERT_COLUMNS,
    KINDS,
    OUTRIGHT,
    SELECT_COLUMNS,
    SPREAD_COLUMNS,
    is_spread_part,
)
from fillcapture.store.records import StoredFill, StoreError
from fillcapture.store.rules import order_side_of

__all__ = ["INSERT_COLUMNS", "OUTRIGHT", "SELECT_COLUMNS", "SPREAD_COLUMNS", "aware",
           "fill_rows", "is_spread_part", "spread_rows", "stored_fill"]

_SIDES = {side.value: side for side in Side}
_SIDE_TEXT: dict[Side | None, str | None] = {side: side.value for side in Side} | {None: None}


def aware(moment: datetime) -> datetime:
    """``moment``, refused if naive: the store keeps instants, not wall times."""
    if moment.utcoffset() is None:
        raise StoreError(f"naive datetime {moment!r}: the store needs timezone-aware times")
    return moment


def fill_rows(fills: Sequence[Fill], captured_at: datetime) -> list[tuple[Any, ...]]:
    """One tuple per fill, in :data:`INSERT_COLUMNS` order, built in one pass."""
    side_text = _SIDE_TEXT
    rows = [
        (
            fill.firm,
            fill.account_id,
            fill.account,
            fill.order_id,
            fill.exchange_trade_id or f"#{fill.sequence_order}",  # Fill.trade_key, inlined
            OUTRIGHT if fill.leg_index is None else fill.leg_index,
            fill.exchange_trade_id,
            fill.sequence_order,
            fill.market_id,
            side_text[fill.side],
            fill.volume,
            fill.price_text,
            fill.exchange_time,
            fill.trade_date,
            captured_at,
            fill.historical,
        )
        for fill in fills
    ]
    for fill in fills:
        if fill.exchange_time.tzinfo is None:
            aware(fill.exchange_time)
    return rows


def spread_rows(fills: Sequence[Fill], captured_at: datetime) -> list[tuple[Any, ...]]:
    """As :func:`fill_rows`, then :data:`SPREAD_COLUMNS`, for legs and spread
    trades; a leg not placed is stored pending (as the SQLite engine does:
    see :func:`fillcapture.store._sqlite.rows.spread_rows`)."""
    rows = fill_rows(fills, captured_at)
    market_at = INSERT_COLUMNS.index("market_id")
    side_at = INSERT_COLUMNS.index("side")
    out = []
    for fill, row in zip(fills, rows, strict=True):
        if fill.leg_index is None:
            out.append((*row, fill.kind, None, None, None))
            continue
        order_side = order_side_of(fill)
        if fill.leg_sign is None:
            spread_market = fill.spread_market_id or fill.market_id
            values = list(row)
            values[market_at] = spread_market
            values[side_at] = None
            out.append((*values, LEG, spread_market, None, _SIDE_TEXT[order_side]))
        else:
            out.append((*row, LEG, fill.spread_market_id, fill.leg_sign,
                        _SIDE_TEXT[order_side]))
    return out


def stored_fill(row: Sequence[Any]) -> StoredFill:
    """A row of ``owner`` followed by :data:`SELECT_COLUMNS`."""
    (owner, firm, account, account_id, order_id, exchange_trade_id, sequence_order,
     leg_index, market_id, side, volume, price, exchange_time, trade_date, busted_at,
     captured_at, kind, leg_sign, spread_market_id) = row
    return StoredFill(
        user=owner,
        firm=firm,
        account=account,
        account_id=account_id,
        order_id=order_id,
        exchange_trade_id=exchange_trade_id,
        sequence_order=sequence_order,
        leg_index=None if leg_index == OUTRIGHT else leg_index,
        market_id=market_id,
        side=None if side is None else _SIDES[side],
        volume=volume,
        price=price,
        exchange_time=exchange_time,
        trade_date=trade_date,
        busted=busted_at is not None,
        captured_at=captured_at,
        kind="pending_leg" if kind == LEG and leg_sign is None else KINDS[kind],
        spread_market_id=spread_market_id,
    )
