"""The JSON messages fillcapture publishes over MQTT, and the MQTT feed adapter reads.

One schema both ways, so one site can feed another. ``docs/mqtt.md`` documents
it for consumers; this module is its definition. Prices are decimal strings
exactly as T4 sent them, times UTC ISO 8601 with a ``Z``, trade dates
``YYYY-MM-DD``. ``fill_id`` is the fill's identity as text: the same for every
delivery of the same fill, from any store, so consumers de-duplicate by it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fillcapture.model import LEG, OUTRIGHT, SPREAD_TRADE, Fill, Side
from fillcapture.store.base import StoredFill


def fill_id(firm: str, order_id: str, trade_key: str, leg_index: int | None) -> str:
    """``firm/order_id/trade_key[/leg]``: the fill identity (T4_API_V1 §8) as text."""
    text = f"{firm}/{order_id}/{trade_key}"
    return text if leg_index is None else f"{text}/{leg_index}"


class FillMessage(BaseModel):
    """One fill, published to ``{prefix}/fills/{user}/{account}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    fill_id: str = Field(min_length=1)
    firm: str = Field(min_length=1)
    user: str | None = None
    account: str = Field(min_length=1)
    account_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    exchange_trade_id: str
    sequence_order: int
    leg_index: int | None = Field(None, ge=0)
    market_id: str
    side: Literal["BUY", "SELL"] | None
    volume: int = Field(gt=0)
    price: str = Field(pattern=r"^-?[0-9]{1,18}(\.[0-9]{1,18})?$")
    exchange_time: datetime
    trade_date: date
    busted: bool = False
    captured_at: datetime | None = None
    # What the fill is to positions (StoredFill.kind); a message from before
    # had none, and a fill with a leg index is then a leg not placed.
    kind: Literal["outright", "leg", "pending_leg", "spread"] | None = None
    spread_market_id: str | None = None

    @field_validator("exchange_time", "captured_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a timezone (UTC, ending in Z)")
        return None if value is None else value.astimezone(UTC)

    def to_fill(self) -> Fill:
        """The model's Fill, as the capture pipeline takes it. A leg placed on
        its contract keeps its market and side as they are (its order's side
        is not in the message); any other leg is pending."""
        side = None if self.side is None else Side(self.side)
        kind = self.kind
        placed = kind == "leg" and self.leg_index is not None
        return Fill(
            self.firm, self.account_id, self.account, self.order_id, self.exchange_trade_id,
            self.sequence_order, self.leg_index, self.market_id, side, self.volume,
            Decimal(self.price), self.price, self.exchange_time, self.trade_date, False,
            SPREAD_TRADE if kind == "spread" else LEG if self.leg_index is not None
            else OUTRIGHT,
            self.spread_market_id, 1 if placed else None, side if placed else None,
        )


class BustMessage(FillMessage):
    """A bust of the fill ``fill_id``, published to ``{prefix}/busts/{user}/{account}``:
    the busted fill's own fields, ``busted`` true, and when T4 busted it."""

    busted: bool = True
    busted_at: datetime

    @field_validator("busted_at")
    @classmethod
    def _utc_bust(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a timezone (UTC, ending in Z)")
        return value.astimezone(UTC)


def message_fields(fill: StoredFill) -> dict[str, Any]:
    """A stored fill's :class:`FillMessage` fields, its owner and bust flag as of now."""
    return {
        "fill_id": fill_id(fill.firm, fill.order_id, fill.trade_key, fill.leg_index),
        "firm": fill.firm,
        "user": fill.user,
        "account": fill.account,
        "account_id": fill.account_id,
        "order_id": fill.order_id,
        "exchange_trade_id": fill.exchange_trade_id,
        "sequence_order": fill.sequence_order,
        "leg_index": fill.leg_index,
        "market_id": fill.market_id,
        "side": None if fill.side is None else fill.side.value,
        "volume": fill.volume,
        "price": fill.price,
        "exchange_time": fill.exchange_time,
        "trade_date": fill.trade_date,
        "busted": fill.busted,
        "captured_at": fill.captured_at,
        "kind": fill.kind,
        "spread_market_id": fill.spread_market_id,
    }


def utc_text(moment: datetime) -> str:
    """``2026-11-23T15:04:05.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
