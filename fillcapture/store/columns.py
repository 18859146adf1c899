"""Where each public field of a stored fill is kept: the fills table's columns,
and the encodings every engine shares (outright legs, kinds, open lots).

The public shape of a stored fill is declared once, in
:data:`fillcapture.fillshape.FIELDS`. Every engine keeps a field in the
column :data:`KEPT` names (each engine its own encoding of the value), or
computes it (:data:`COMPUTED`); :data:`SELECT_COLUMNS`, the columns a query
reads to make a :class:`~fillcapture.store.records.StoredFill`, follow the
declaration's order. A field declared there and not placed here stops the
import, as does a :class:`StoredFill` whose fields are not the owner and then
the kept fields in that order: a new field cannot reach the messages and files
without the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fillcapture.fillshape import FIELDS, FillField
from fillcapture.model import LEG, SPREAD_TRADE, Fill, Side
from fillcapture.model import OUTRIGHT as OUTRIGHT_FILL
from fillcapture.store.records import FillKind, Lots, StoredFill
from fillcapture.store.rules import order_side_of

KEPT: dict[str, str] = {
    "firm": "firm",
    "account": "account",
    "account_id": "account_id",
    "order_id": "order_id",
    "exchange_trade_id": "exchange_trade_id",
    "sequence_order": "sequence_order",
    "leg_index": "leg_index",
    "market_id": "market_id",
    "side": "side",
    "volume": "volume",
    "price": "price",
    "exchange_time": "exchange_time",
    "trade_date": "trade_date",
    "busted": "busted_at",
    "captured_at": "captured_at",
    "kind": "kind",
    "spread_market_id": "spread_market_id",
}
"""Public field -> the fills column it is kept in."""

COMPUTED: dict[str, str] = {
    "fill_id": "made from firm, order_id, the trade key and leg_index",
    "user": "the fill's owner now, by the registry: the query's first value",
}
"""Public fields no column keeps, and where they come from."""

HELPERS: tuple[str, ...] = ("leg_sign",)
"""Columns read beside the kept ones: ``leg_sign`` tells a placed leg from a pending one."""

SELECT_COLUMNS: tuple[str, ...] = (
    *(KEPT[f.name] for f in FIELDS if f.name in KEPT), *HELPERS)
"""What a query reads after the owner, in the declaration's order, then :data:`HELPERS`."""

SELECTED_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.name in KEPT)
"""The public field each of the first ``len(KEPT)`` :data:`SELECT_COLUMNS` holds."""


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
"""What capture writes of each fill, in the order of every engine's row tuples."""

SPREAD_COLUMNS = ("kind", "spread_market_id", "leg_sign", "order_side")
"""Written as well for legs and spread-level trades (rare); an outright fill
leaves them to their defaults (kind 0, the rest NULL)."""

OUTRIGHT = -1
"""``leg_index`` stored for an outright fill (``None`` in the model): the
identity's columns are never NULL, so a unique key holds them."""

KINDS: dict[int, FillKind] = {OUTRIGHT_FILL: "outright", LEG: "leg", SPREAD_TRADE: "spread"}
"""``StoredFill.kind`` by the stored ``kind``; a leg not yet placed is ``pending_leg``."""


def kind_of(kind: int, leg_sign: int | None) -> FillKind:
    """A stored fill's kind: a leg without a sign is not placed yet."""
    return "pending_leg" if kind == LEG and leg_sign is None else KINDS[kind]


def is_spread_part(fill: Fill) -> bool:
    """A leg fill or spread-level trade, stored with :data:`SPREAD_COLUMNS`."""
    return fill.kind != OUTRIGHT_FILL or fill.leg_index is not None


def with_spread_columns(fills: Sequence[Fill], rows: Sequence[tuple[Any, ...]]
                        ) -> list[tuple[Any, ...]]:
    """Each of ``rows`` (an engine's :data:`INSERT_COLUMNS` values of
    ``fills``) followed by :data:`SPREAD_COLUMNS`. A fill with a leg index
    is a leg whatever its ``kind``; a leg not placed on its contract
    (``leg_sign`` ``None``) is stored pending: on its spread's market,
    without a side, the side it carries taken for the spread order's."""
    market_at = INSERT_COLUMNS.index("market_id")
    side_at = INSERT_COLUMNS.index("side")
    out = []
    for fill, row in zip(fills, rows, strict=True):
        if fill.leg_index is None:
            out.append((*row, fill.kind, None, None, None))
            continue
        order_side = _side_text(order_side_of(fill))
        if fill.leg_sign is None:
            spread_market = fill.spread_market_id or fill.market_id
            values = list(row)
            values[market_at] = spread_market
            values[side_at] = None
            out.append((*values, LEG, spread_market, None, order_side))
        else:
            out.append((*row, LEG, fill.spread_market_id, fill.leg_sign, order_side))
    return out


def _side_text(side: Side | None) -> str | None:
    return None if side is None else side.value


def lots_text(lots: Lots) -> str:
    """Open lots as kept in the recorded positions: ``price:volume`` pairs."""
    return " ".join(f"{price}:{volume}" for price, volume in lots)


def lots_of(text: str) -> Lots:
    """:func:`lots_text` read back."""
    items = (item.partition(":") for item in text.split())
    return tuple((Decimal(price), int(volume)) for price, _, volume in items)


def check(fields: tuple[FillField, ...] = FIELDS, stored: type = StoredFill) -> None:
    """``AssertionError`` unless every field of ``fields`` is kept or computed,
    and ``stored``'s fields are the owner and then the kept ones, in order."""
    declared = {f.name for f in fields}
    placed = set(KEPT) | set(COMPUTED)
    if declared != placed:
        raise AssertionError(
            f"fill fields without a store column: {sorted(declared - placed)}; "
            f"store columns of no fill field: {sorted(placed - declared)}")
    kept = tuple(f.name for f in fields if f.name in KEPT)
    held = tuple(f.name for f in dataclasses.fields(stored))
    if held != ("user", *kept):
        raise AssertionError(f"{stored.__name__}'s fields {held} are not the owner and "
                             f"then the kept fields {kept} in their declared order")


check()
