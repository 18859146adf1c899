"""Spread (strategy) markets: their legs from T4's market details, and each leg
fill placed on its own contract with its own side.

T4 reports a fill of a spread order as leg fills (``OrderUpdate.trade_legs``,
live ``OrderUpdateTradeLeg``) under the spread order's id and market, each
with its ``leg_index``, volume and price, and possibly the spread-level trade
as well (``OrderUpdate.trades``, ``OrderUpdateTrade``). Which contract a leg
trades, and in which direction, only the spread market's definition says:
``MarketDetails.legs`` (``LegItem``), in ``leg_index`` order.

Assumptions about the protocol, to verify against CTS's real environment
(the official schema documents none of them, and CTS's demo clients read no
leg volumes or directions):

- **Direction**: ``LegItem`` has no buy/sell field. A leg's direction is the
  sign of ``LegItem.volume`` (positive: the leg trades on the spread order's
  side, negative: on the opposite side) and its ratio the absolute value. A
  calendar spread bought buys its first leg (+1) and sells its second (-1).
- **Volume**: ``TradeLeg.volume`` / ``OrderUpdateTradeLeg.volume`` is the
  leg's own volume (already times its ratio), stored as sent: one contract of
  a 1:-2:1 butterfly fills the middle leg's volume 2.
- **Market**: a leg fill's ``market_id`` (the order's, or the live
  ``OrderUpdateTradeLeg``'s) names the spread market, as every other update
  of the order does; the leg's contract comes from the definition.
- **Spread orders**: an order is a spread order once it has leg fills (in the
  same update or an earlier one; the store marks its earlier spread-level
  trades when its legs arrive). Its spread-level trades are then kept but
  marked (``SPREAD_TRADE``): the legs carry the position, so nothing counts
  twice. An order on a spread market without any leg fill stays a trade of
  the spread market, as before: nothing is dropped on a guess.

A leg fill whose spread's definition is not known yet is stored *pending*
(the spread's market, no side) and placed by the store when the definition
arrives (:class:`fillcapture.model.SpreadsSeen`). Never guessed.
"""

from __future__ import annotations

from typing import Any

import structlog

from fillcapture.metrics import Metrics
from fillcapture.model import LEG, Fill, Side, SpreadDefinition, SpreadLeg

log = structlog.get_logger(__name__)

MAX_SPREADS = 100_000
"""Spread definitions remembered at most (a handful are traded on a day)."""

_OPPOSITE = {Side.BUY: Side.SELL, Side.SELL: Side.BUY}


def definition_of(details: Any) -> SpreadDefinition | None:
    """The spread definition of ``MarketDetails`` with legs; ``None`` for an
    outright's (no legs) or for legs that cannot be used (a leg without a
    market id or with volume 0: no direction), which is logged."""
    if not details.legs:
        return None
    legs = []
    for index, item in enumerate(details.legs):
        volume: int = item.volume
        if not item.market_id or not volume:
            log.warning("spread.definition_invalid", market_id=details.market_id[:80],
                        leg_index=index, leg_market_id=item.market_id[:80], volume=volume)
            return None
        legs.append(SpreadLeg(item.market_id, abs(volume), 1 if volume > 0 else -1))
    return SpreadDefinition(details.market_id, int(details.strategy_type), tuple(legs))


class Spreads:
    """The spread definitions a decoder knows, and the leg fills they place."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.definitions: dict[str, SpreadDefinition] = {}
        # New or changed since the session last collected them (SpreadsSeen).
        self.new: list[SpreadDefinition] = []
        self._beyond: set[str] = set()  # spread markets logged for a leg beyond their legs
        self._waiting: set[str] = set()  # spread markets logged for legs before their definition

    def learn(self, details: Any) -> None:
        """Keep the legs of a spread market's details (they come with every
        snapshot: only a new or changed definition is reported)."""
        definition = definition_of(details)
        if definition is None:
            if details.legs:
                self.metrics.inc("spreads.invalid")
            return
        market_id = definition.market_id
        known = self.definitions.get(market_id)
        if known == definition:
            return
        if known is None and len(self.definitions) >= MAX_SPREADS:
            self.definitions.clear()
        self.definitions[market_id] = definition
        self.new.append(definition)

    def place(self, fill: Fill) -> Fill:
        """Leg fill ``fill`` (decoded on its spread's market, with the spread
        order's side) on its leg's contract and side, or pending."""
        spread_market = fill.market_id
        order_side = fill.side
        definition = self.definitions.get(spread_market)
        index = fill.leg_index
        assert index is not None
        if definition is None or index >= len(definition.legs):
            self.metrics.inc("legs.pending")
            if definition is None and spread_market not in self._waiting:
                if len(self._waiting) >= MAX_SPREADS:
                    self._waiting.clear()
                self._waiting.add(spread_market)
                log.info("spread.legs_pending", market_id=spread_market[:80])
            if definition is not None and spread_market not in self._beyond:
                self._beyond.add(spread_market)
                self.metrics.inc("legs.beyond_definition")
                log.warning("spread.leg_beyond_definition", market_id=spread_market[:80],
                            leg_index=index, legs=len(definition.legs))
            return fill._replace(kind=LEG, side=None, spread_market_id=spread_market,
                                 order_side=order_side)
        leg = definition.legs[index]
        side = order_side if leg.direction > 0 or order_side is None \
            else _OPPOSITE[order_side]
        return fill._replace(kind=LEG, market_id=leg.market_id, side=side,
                             spread_market_id=spread_market, leg_sign=leg.direction,
                             order_side=order_side)
