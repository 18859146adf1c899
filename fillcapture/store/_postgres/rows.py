"""How fills become PostgreSQL rows and stored rows become ``StoredFill``s.

Times are ``timestamptz`` (timezone-aware datetimes both ways), trade dates
``date``; prices stay the exact text T4 sent. The column lists are the
same for every engine (:mod:`fillcapture.store.columns`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from fillcapture.model import Fill, Side
from fillcapture.store.columns import (
    INSERT_COLUMNS,
    OUTRIGHT,
    SELECT_COLUMNS,
    SELECTED_FIELDS,
    SPREAD_COLUMNS,
    is_spread_part,
    kind_of,
    with_spread_columns,
)
from fillcapture.store.records import StoredFill, StoreError

__all__ = ["COLUMN_TYPES", "INSERT_COLUMNS", "OUTRIGHT", "SELECT_COLUMNS", "SPREAD_COLUMNS",
           "aware", "column_type", "fill_rows", "is_spread_part", "spread_rows", "stored_fill"]

COLUMN_TYPES = {"leg_index": "integer", "sequence_order": "bigint", "volume": "bigint",
                "exchange_time": "timestamptz", "trade_date": "date",
                "captured_at": "timestamptz", "historical": "boolean", "kind": "smallint",
                "leg_sign": "smallint"}
"""The fills table's types of the written columns that are not text."""


def column_type(column: str) -> str:
    """The fills table's type of ``column``, one of those written."""
    return COLUMN_TYPES.get(column, "text")

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
    trades (:func:`fillcapture.store.columns.with_spread_columns`)."""
    return with_spread_columns(fills, fill_rows(fills, captured_at))


def _side(text: str | None) -> Side | None:
    return None if text is None else _SIDES[text]


def _leg_index(stored: int) -> int | None:
    return None if stored == OUTRIGHT else stored


def _busted(busted_at: datetime | None) -> bool:
    return busted_at is not None


# How a kept column's value becomes its field's; a column not named here is the value.
_DECODE: dict[str, Callable[[Any], Any]] = {
    "leg_index": _leg_index, "side": _side, "busted": _busted}
_DECODED = tuple((i, _DECODE[name]) for i, name in enumerate(SELECTED_FIELDS) if name in _DECODE)
_COUNT = len(SELECTED_FIELDS)
_KIND_AT = SELECTED_FIELDS.index("kind")
_LEG_SIGN_AT = 1 + SELECT_COLUMNS.index("leg_sign")


def stored_fill(row: Sequence[Any]) -> StoredFill:
    """A row of ``owner`` followed by :data:`SELECT_COLUMNS` (the fields in
    ``StoredFill``'s order, as :mod:`fillcapture.store.columns` holds)."""
    values = list(row[1:_COUNT + 1])
    for at, decode in _DECODED:
        values[at] = decode(values[at])
    values[_KIND_AT] = kind_of(values[_KIND_AT], row[_LEG_SIGN_AT])
    return StoredFill(row[0], *values)
