"""The JSON messages fillcapture publishes over MQTT, and the MQTT feed adapter reads.

One schema both ways, so one site can feed another. ``docs/mqtt.md`` documents
it for consumers; this module is its definition. Prices are decimal strings
exactly as T4 sent them, times UTC ISO 8601 with a ``Z``, trade dates
``YYYY-MM-DD``. ``fill_id`` is the fill's identity as text: the same for every
delivery of the same fill, from any store, so consumers de-duplicate by it.

A fill message's fields are :data:`fillcapture.fillshape.FIELDS`, made into the
pydantic model here; :class:`BustMessage` adds the bust's own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from fillcapture.fillshape import FIELDS, fill_id, message_fields, utc_text
from fillcapture.model import LEG, OUTRIGHT, SPREAD_TRADE, Fill, Side

__all__ = ["BustMessage", "FillMessage", "fill_id", "message_fields", "utc_text"]


class _FillMessage(BaseModel):
    """What every fill message does; its fields are :data:`fillcapture.fillshape.FIELDS`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    if TYPE_CHECKING:  # the fields are added from the declaration; each is what it says
        def __getattr__(self, name: str) -> Any: ...

    @field_validator("exchange_time", "captured_at", check_fields=False)
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


if TYPE_CHECKING:
    FillMessage = _FillMessage
else:
    FillMessage = create_model(
        "FillMessage", __base__=_FillMessage, __module__=__name__,
        __doc__="One fill, published to ``{prefix}/fills/{user}/{account}``.",
        **{f.name: (f.message, Field(**f.constraints)) for f in FIELDS},
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
