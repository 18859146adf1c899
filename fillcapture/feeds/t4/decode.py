"""Turn T4 v1 server messages into fills: the normalizer of the t4 adapter.

Keeps the day's orders by ``unique_id`` because a fill's side lives on its order.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from google.protobuf.timestamp_pb2 import Timestamp

from fillcapture.feeds.t4.proto import orderrouting_pb2 as orp
from fillcapture.feeds.t4.proto import service_pb2
from fillcapture.feeds.t4.tradedate import note_suspect, trade_date_check
from fillcapture.metrics import Metrics
from fillcapture.model import Bust, Fill, Market, OrderSide, Side, VisibleAccount
from fillcapture.schedule import trade_date as cme_trade_date

log = structlog.get_logger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICKS_PER_DAY = 864_000_000_000
# .NET ticks between 0001-01-01 and 1900-01-01 / 2200-01-01: outside this, the
# int64 is not a ticks date and the trade date comes from the exchange time.
_TICKS_MIN = (date(1900, 1, 1) - date(1, 1, 1)).days * _TICKS_PER_DAY
_TICKS_MAX = (date(2200, 1, 1) - date(1, 1, 1)).days * _TICKS_PER_DAY
_SIDES = {orp.BUY_SELL_BUY: Side.BUY, orp.BUY_SELL_SELL: Side.SELL}
_BUSTED = orp.ORDER_CHANGE_TRADE_BUSTED
# Fill times outside these (seconds since the epoch) are nonsense, not history.
_EARLIEST = int((datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())
_LATEST = int((datetime(2100, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())


MAX_ORDERS = 250_000
"""Orders remembered for their side (about 45 MB at most; a day of a vendor's
customers is far fewer). Beyond it the oldest are forgotten: a late fill of a forgotten
order is stored without a side and gets it if the order is seen again."""


def _bounded_put(table: dict[str, Any], key: str, value: Any) -> None:
    table[key] = value
    if len(table) > MAX_ORDERS:
        del table[next(iter(table))]


_new_tuple = tuple.__new__


class InvalidMessage(ValueError):
    """A message that decodes but makes no sense (empty id, bad price, ...).

    The whole frame carrying it is skipped: a frame with one nonsensical fill
    is not trusted for the others either.
    """


_PRICE_TEXT = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?")


@functools.lru_cache(maxsize=8192)
def _price(text: str) -> Decimal:
    """The exact decimal of T4's price text: plain digits with an optional
    fraction, nothing ``Decimal()`` would also take (exponents, NaN,
    underscores, other scripts' digits). Cached: a market's prices repeat."""
    if _PRICE_TEXT.fullmatch(text) is None:
        raise InvalidMessage(f"unparsable price {text[:40]!r}")
    return Decimal(text)


def trade_date_of(raw: int, exchange_time: datetime) -> date:
    """T4's opaque int64 trade date: .NET ticks of midnight where it looks like
    ticks, else the CME rule applied to the exchange time (T4_API_V1 §9)."""
    if _TICKS_MIN <= raw < _TICKS_MAX:
        return _ticks_date(raw)
    return cme_trade_date(exchange_time)


@functools.lru_cache(maxsize=64)
def _ticks_date(raw: int) -> date:
    # A day's fills share one value: cached, the conversion costs a lookup.
    return date(1, 1, 1) + timedelta(days=raw // _TICKS_PER_DAY)


class Decoder:
    """Stateful per-firm normalizer: account numbers by id, order sides by id.

    ``handle`` takes one decoded ``ServerMessage`` payload and appends the
    fills, busts and late order sides it carries; control messages are the
    session's job. It raises :class:`InvalidMessage` for nonsense, and then
    the caller discards everything appended for that frame (and gives
    :meth:`unresolve` the sides it discards).
    """

    def __init__(self, firm: str, metrics: Metrics) -> None:
        self.firm = firm
        self.metrics = metrics
        self.accounts: dict[str, str] = {}
        # Insertion-ordered, so the oldest orders go first once MAX_ORDERS is
        # reached: a session may last weeks and T4 forgets each day anyway.
        self.sides: dict[str, Side | None] = {}
        # Orders whose fills were emitted before the order itself was seen.
        self.sideless: dict[str, None] = {}
        self._unknown_accounts: set[str] = set()
        # Accounts learned since the session last collected them (AccountsSeen).
        self.new_accounts: list[VisibleAccount] = []
        # Market terms by market id, and those new or changed since the
        # session last collected them (MarketsSeen).
        self.markets: dict[str, Market] = {}
        self.new_markets: list[Market] = []
        self._market_terms: dict[str, tuple[str, str, str]] = {}

    def learn_account(self, account_id: str, number: str) -> None:
        if account_id and number and self.accounts.get(account_id) != number:
            self.accounts[account_id] = number
            self.new_accounts.append(VisibleAccount(account_id, number))

    def learn_market(self, details: Any) -> None:
        """Keep a market's point value. Market details without a usable one
        are skipped alone: they carry no fill, so the frame's fills stand."""
        market_id: str = details.market_id
        text: str = details.point_value.value
        if not market_id or not text:
            return
        terms = (details.exchange_id, details.contract_id, text)
        if self._market_terms.get(market_id) == terms:
            return  # as last seen: every snapshot frame repeats its markets' details
        if len(self._market_terms) >= MAX_ORDERS:
            self._market_terms.clear()
        self._market_terms[market_id] = terms
        if _PRICE_TEXT.fullmatch(text) is None or Decimal(text) <= 0:
            self.metrics.inc("markets.invalid")
            log.warning("market.point_value_invalid", market_id=market_id[:80],
                        point_value=text[:40])
            return
        market = Market(market_id, details.exchange_id, details.contract_id, Decimal(text))
        if self.markets.get(market_id) != market:
            if market_id not in self.markets and len(self.markets) >= MAX_ORDERS:
                self.markets.clear()
            self.markets[market_id] = market
            self.new_markets.append(market)

    def unresolve(self, sides: list[OrderSide]) -> None:
        """Sides resolved by a frame that was then discarded: still unresolved."""
        for item in sides:
            _bounded_put(self.sideless, item.order_id, None)

    def handle(
        self, kind: str, message: service_pb2.ServerMessage, fills: list[Fill],
        sides: list[OrderSide], busts: list[Bust],
    ) -> None:
        """Append to ``fills``, ``sides`` and ``busts`` what the ``kind`` payload carries."""
        if kind == "order_update_trade":
            self._trade(message.order_update_trade, fills, busts)
        elif kind == "order_update":
            self._order(message.order_update, False, fills, sides)
        elif kind == "order_update_trade_leg":
            leg = message.order_update_trade_leg
            self._trade(leg, fills, busts, leg_index=leg.leg_index)
        elif kind == "order_update_multi":
            self._multi(message.order_update_multi, fills, sides, busts)
        elif kind == "account_snapshot":
            self._snapshot(message.account_snapshot, fills, sides, busts)
        elif kind == "account_details":
            details = message.account_details
            self.learn_account(details.account_id, details.account)
        elif kind == "market_details":
            self.learn_market(message.market_details)

    # --- payloads -------------------------------------------------------

    def _snapshot(
        self, snap: Any, fills: list[Fill], sides: list[OrderSide], busts: list[Bust]
    ) -> None:
        for item in snap.messages:
            which = item.WhichOneof("payload")
            if which == "account_details":
                details = item.account_details
                self.learn_account(details.account_id, details.account)
            elif which == "order_update_multi":
                self._multi(item.order_update_multi, fills, sides, busts)
            elif which == "market_details":
                self.learn_market(item.market_details)

    def _multi(
        self, multi: Any, fills: list[Fill], sides: list[OrderSide], busts: list[Bust]
    ) -> None:
        historical = multi.historical
        for item in multi.updates:
            which = item.WhichOneof("payload")
            if which == "order_update":
                self._order(item.order_update, historical, fills, sides)
            elif which == "order_update_trade":
                self._trade(item.order_update_trade, fills, busts, historical)
            elif which == "order_update_trade_leg":
                leg = item.order_update_trade_leg
                self._trade(leg, fills, busts, historical, leg.leg_index)

    def _order(
        self, order: Any, historical: bool, fills: list[Fill], sides: list[OrderSide]
    ) -> None:
        uid = order.unique_id
        if not uid:
            raise InvalidMessage("order without unique_id")
        if order.account_number:
            self.learn_account(order.account_id, order.account_number)
        side = _SIDES.get(order.buy_sell)
        if uid not in self.sides:
            _bounded_put(self.sides, uid, side)
        elif side is not None:
            self.sides[uid] = side
        if side is not None and uid in self.sideless:
            del self.sideless[uid]
            sides.append(OrderSide(self.firm, order.account_id, uid, side))
        account_id, market_id = order.account_id, order.market_id
        for trade in order.trades:
            self._add(fills, account_id, uid, market_id, trade, None, historical)
        for leg in order.trade_legs:
            self._add(fills, account_id, uid, market_id, leg, leg.leg_index, historical)

    def _trade(
        self, trade: Any, fills: list[Fill], busts: list[Bust], historical: bool = False,
        leg_index: int | None = None,
    ) -> None:
        """One fill (OrderUpdateTrade) or spread leg fill (OrderUpdateTradeLeg):
        the two messages name their common fields alike. With change BUSTED it
        is a bust, carrying the busted fill's fields and the bust ``time``."""
        if trade.change == _BUSTED:
            found: list[Fill] = []
            self._add(found, trade.account_id, trade.unique_id, trade.market_id, trade,
                      leg_index, historical)
            stamp = trade.time
            busted_at = (
                _EPOCH + timedelta(0, stamp.seconds, stamp.nanos // 1000)
                if _EARLIEST <= stamp.seconds < _LATEST and 0 <= stamp.nanos < 1_000_000_000
                else datetime.now(UTC)
            )
            busts.append(Bust(found[0], busted_at))
            return
        self._add(fills, trade.account_id, trade.unique_id, trade.market_id, trade, leg_index,
                  historical)

    def _add(
        self, fills: list[Fill], account_id: str, order_id: str, market_id: str, trade: Any,
        leg_index: int | None, historical: bool,
    ) -> None:
        """Normalize one fill message: an order's Trade or TradeLeg, or a live
        OrderUpdateTrade(Leg); all four name the fill's fields alike."""
        # The hot path of the adapter: helpers are inlined, Fill is built directly.
        exchange_trade_id: str = trade.exchange_trade_id
        sequence_order: int = trade.sequence_order
        volume: int = trade.volume
        price_text: str = trade.price.value
        when: Timestamp = trade.exchange_time
        if not when.seconds:  # unset: T4's own time of the fill instead
            when = trade.time
        if not account_id or not order_id:
            raise InvalidMessage("fill without account_id or order unique_id")
        if not exchange_trade_id and sequence_order <= 0:
            raise InvalidMessage("fill without exchange_trade_id or sequence_order")
        if volume <= 0:
            raise InvalidMessage(f"non-positive volume {volume}")
        if leg_index is not None and leg_index < 0:
            raise InvalidMessage(f"negative leg_index {leg_index}")
        price = _price(price_text)
        seconds = when.seconds
        nanos = when.nanos
        if not _EARLIEST <= seconds < _LATEST:
            raise InvalidMessage(f"fill time {seconds} s since the epoch is out of range")
        if not 0 <= nanos < 1_000_000_000:
            raise InvalidMessage(f"fill time nanos {nanos} out of range")
        # timedelta(days, seconds, microseconds), positional: 30% cheaper.
        exchange_time = _EPOCH + timedelta(0, seconds, nanos // 1000)
        account = self.accounts.get(account_id)
        if account is None:
            # Without its number the account cannot be matched to an owner.
            account = ""
            if account_id not in self._unknown_accounts:
                if len(self._unknown_accounts) >= MAX_ORDERS:
                    self._unknown_accounts.clear()
                self._unknown_accounts.add(account_id)
                log.warning("fill.account_unknown", account_id=account_id)
        side = self.sides.get(order_id)
        if side is None and order_id not in self.sideless:
            _bounded_put(self.sideless, order_id, None)
        if (suspect := trade_date_check(trade.trade_date, exchange_time)) is not None:
            note_suspect(self.metrics, self.firm, account_id, account, trade.trade_date,
                         exchange_time, suspect)
        # tuple.__new__ directly skips the named tuple's Python-level __new__.
        fills.append(_new_tuple(Fill, (
            self.firm, account_id, account, order_id, exchange_trade_id, sequence_order,
            leg_index, market_id, side, volume, price, price_text, exchange_time,
            trade_date_of(trade.trade_date, exchange_time), historical,
        )))
