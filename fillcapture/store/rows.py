"""How fills become SQLite rows and stored rows become ``StoredFill``s.

Times are fixed-width ISO 8601 UTC text (sortable as text); prices stay the exact text T4 sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from fillcapture.model import Fill, Side
from fillcapture.store.base import StoredFill, StoreError

# Column order of the tuples built by fill_rows().
INSERT_COLUMNS = (
    "firm",
    "account_id",
    "account",
    "order_id",
    "trade_key",
    "leg_index",
    "exchange_trade_id",
    "sequence_order",
    "market_id",
    "side",
    "volume",
    "price",
    "exchange_time",
    "trade_date",
    "captured_at",
    "historical",
)

# Column order that stored_fill() reads; the owner comes first, computed by the query.
SELECT_COLUMNS = (
    "firm",
    "account",
    "account_id",
    "order_id",
    "exchange_trade_id",
    "sequence_order",
    "leg_index",
    "market_id",
    "side",
    "volume",
    "price",
    "exchange_time",
    "trade_date",
    "busted_at",
    "captured_at",
)

OUTRIGHT = -1
"""``leg_index`` stored for an outright fill (``None`` in the model)."""

_SIDES = {side.value: side for side in Side}
# A dict lookup is several times faster than Enum.value on the capture path.
_SIDE_TEXT: dict[Side | None, str | None] = {side: side.value for side in Side} | {None: None}


def utc_text(moment: datetime) -> str:
    """``2024-03-01T14:30:00.000000Z``: always microseconds, so text order is time order."""
    if moment.tzinfo is not UTC:
        if moment.utcoffset() is None:
            raise StoreError(f"naive datetime {moment!r}: the store needs timezone-aware times")
        moment = moment.astimezone(UTC)
    # %-formatting: about twice as fast as strftime or isoformat(timespec=...)
    # on the capture path, where this runs once per fill.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


def fill_rows(fills: Sequence[Fill], captured_at: str) -> list[tuple[Any, ...]]:
    """One parameter tuple per fill, in :data:`INSERT_COLUMNS` order, built in one pass."""
    side_text = _SIDE_TEXT
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
            utc_text(fill.exchange_time),
            fill.trade_date.isoformat(),
            captured_at,
            1 if fill.historical else 0,
        )
        for fill in fills
    ]


def stored_fill(row: Sequence[Any]) -> StoredFill:
    """A row of ``owner`` followed by :data:`SELECT_COLUMNS`."""
    (
        owner,
        firm,
        account,
        account_id,
        order_id,
        exchange_trade_id,
        sequence_order,
        leg_index,
        market_id,
        side,
        volume,
        price,
        exchange_time,
        trade_date,
        busted_at,
        captured_at,
    ) = row
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
        exchange_time=datetime.fromisoformat(exchange_time),
        trade_date=date.fromisoformat(trade_date),
        busted=busted_at is not None,
        captured_at=datetime.fromisoformat(captured_at),
    )
