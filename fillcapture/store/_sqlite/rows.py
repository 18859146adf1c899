"""How fills become SQLite rows and stored rows become ``StoredFill``s.

The columns and the encodings every engine shares are in
:mod:`fillcapture.store.columns`; here is SQLite's own encoding of values.

Times are fixed-width ISO 8601 UTC text (sortable as text); prices stay the exact text T4 sent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fillcapture.model import Fill, Side
from fillcapture.store.columns import (
    HELPERS,
    INSERT_COLUMNS,
    OUTRIGHT,
    SELECTED_FIELDS,
    SPREAD_COLUMNS,
    kind_of,
    with_spread_columns,
)
from fillcapture.store.records import StoredFill, StoreError

__all__ = ["INSERT_COLUMNS", "OUTRIGHT", "SPREAD_COLUMNS", "fill_rows", "from_micros",
           "spread_rows", "stored_fill", "utc_micros", "utc_text"]

_SIDES = {side.value: side for side in Side}
# A dict lookup is several times faster than Enum.value on the capture path.
_SIDE_TEXT: dict[Side | None, str | None] = {side: side.value for side in Side} | {None: None}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utc_text(moment: datetime) -> str:
    """``2024-03-01T14:30:00.000000Z``: always microseconds, so text order is time order."""
    if moment.utcoffset() is None:
        raise StoreError(f"naive datetime {moment!r}: the store needs timezone-aware times")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch: how the fills table stores a time."""
    try:
        return (moment - _EPOCH) // _MICROSECOND
    except TypeError:
        raise StoreError(
            f"naive datetime {moment!r}: the store needs timezone-aware times"
        ) from None


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@functools.lru_cache(maxsize=64)
def _date_text(day: date) -> str:
    # A batch's fills share a handful of trade dates.
    return day.isoformat()


def fill_rows(fills: Sequence[Fill], captured_at: int) -> list[tuple[Any, ...]]:
    """One parameter tuple per fill, in :data:`INSERT_COLUMNS` order, built in one pass."""
    side_text, epoch, microsecond, date_text = _SIDE_TEXT, _EPOCH, _MICROSECOND, _date_text
    try:
        return [
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
                (fill.exchange_time - epoch) // microsecond,
                date_text(fill.trade_date),
                captured_at,
                1 if fill.historical else 0,
            )
            for fill in fills
        ]
    except TypeError:
        for fill in fills:
            utc_micros(fill.exchange_time)  # raises StoreError naming the naive time
        raise


def spread_rows(fills: Sequence[Fill], captured_at: int) -> list[tuple[Any, ...]]:
    """As :func:`fill_rows`, then :data:`SPREAD_COLUMNS`, for legs and spread
    trades (:func:`fillcapture.store.columns.with_spread_columns`)."""
    return with_spread_columns(fills, fill_rows(fills, captured_at))


def _side(text: str | None) -> Side | None:
    return None if text is None else _SIDES[text]


def _leg_index(stored: int) -> int | None:
    return None if stored == OUTRIGHT else stored


def _busted(busted_at: int | None) -> bool:
    return busted_at is not None


# How a kept column's value becomes its field's; a column not named here is the value.
_DECODE: dict[str, Callable[[Any], Any]] = {
    "leg_index": _leg_index,
    "side": _side,
    "exchange_time": from_micros,
    "trade_date": date.fromisoformat,
    "busted": _busted,
    "captured_at": from_micros,
}
_DECODED = tuple((i, _DECODE[name]) for i, name in enumerate(SELECTED_FIELDS) if name in _DECODE)
_NAMES = SELECTED_FIELDS
_KIND_AT = SELECTED_FIELDS.index("kind")
_LEG_SIGN_AT = len(SELECTED_FIELDS) + HELPERS.index("leg_sign")


def stored_fill(row: Sequence[Any]) -> StoredFill:
    """A row of ``owner`` followed by :data:`SELECT_COLUMNS`. ``StoredFill``'s
    fields are the owner and then the selected fields, in order (held by
    :mod:`fillcapture.store.columns`), so the values go in by position."""
    values = list(row[1:len(_NAMES) + 1])
    for at, decode in _DECODED:
        values[at] = decode(values[at])
    values[_KIND_AT] = kind_of(values[_KIND_AT], row[_LEG_SIGN_AT + 1])
    return StoredFill(row[0], *values)
