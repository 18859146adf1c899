"""Test data for the store tests: fills with sensible defaults, overridable per field.

Plain constructors, no fixtures: each test says exactly what differs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fillcapture.model import LEG, Fill, Side

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
DAY = date(2024, 3, 1)


def make_fill(n: int = 0, **fields: Any) -> Fill:
    """Fill number ``n`` (distinct identity and time per ``n``), then ``fields``.

    A fill given a ``leg_index`` (and no ``kind``) is a leg placed on its
    contract: ``market_id`` and ``side`` are the leg's own, on the spread
    order's side."""
    price_text = fields.pop("price_text", "6012.25")
    values: dict[str, Any] = {
        "firm": "SIMFIRM",
        "account_id": "acc-11111",
        "account": "11111",
        "order_id": f"order-{n}",
        "exchange_trade_id": f"T{n}",
        "sequence_order": 1,
        "leg_index": None,
        "market_id": "XCME_Eq ES (Z26)",
        "side": Side.BUY,
        "volume": 1,
        "price": Decimal(price_text),
        "price_text": price_text,
        "exchange_time": T0 + timedelta(milliseconds=n),
        "trade_date": DAY,
    }
    values.update(fields)
    if values["leg_index"] is not None and "kind" not in fields:
        values.update(kind=LEG, leg_sign=1, order_side=values["side"])
    return Fill(**values)
