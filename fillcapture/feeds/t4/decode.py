"""Turn T4 v1 server messages into fills: the normalizer of the t4 adapter.

Keeps the day's orders by ``unique_id`` because a fill's side lives on its order.
Over 400 lines because it is one concern, record by record: every shape of
T4's schema a fill can arrive in, and what is quarantined instead; split, the
halves would call each other for every record.
"""

from __future__ import annotations

import functools
import operator
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import structlog
from google.protobuf.timestamp_pb2 import Timestamp

from fillcapture.feeds.t4.legs import Spreads
from fillcapture.feeds.t4.proto import orderrouting_pb2 as orp
from fillcapture.feeds.t4.proto import service_pb2
from fillcapture.feeds.t4.tradedate import (
    date_window,
    note_suspect,
    ticks_trade_date,
    trade_date_check,
)
from fillcapture.metrics import Metrics
from fillcapture.model import (
    OUTRIGHT,
    SPREAD_TRADE,
    AccountConflict,
    Bust,
    Fill,
    Market,
    OrderRecount,
    OrderSide,
    Quarantined,
    Side,
    VisibleAccount,
)
from fillcapture.schedule import trade_date as cme_trade_date

log = structlog.get_logger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
_trade_date_field = operator.itemgetter(Fill._fields.index("trade_date"))


class SnapshotTally(NamedTuple):
    """What one ``account_snapshot`` frame held, as the decoder met it: the
    fills it yielded per trade date (a bust of an order's trade counts as
    the fill it names), the live busts (``order_update_trade(_leg)``), and
    the records it quarantined, still to be counted by
    :func:`fillcapture.feeds.t4.snapshots.count_record`.

    Counted while decoding, so the reconcile's certificate costs no second
    walk of the snapshot's trades."""

    fills: Counter[date]
    busts: int
    quarantined: tuple[tuple[str, Any], ...]


class InvalidMessage(ValueError):
    """A record that decodes but cannot be stored correctly (empty id, bad
    price, an account not known yet, ...). ``reason`` is the quarantine's
    short stable code; the message says what in one line.

    The record alone is quarantined: the rest of its frame is captured.
    """

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


_PRICE_TEXT = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?")


@functools.lru_cache(maxsize=8192)
def _price(text: str) -> Decimal:
    """The exact decimal of T4's price text: plain digits with an optional
    fraction, nothing ``Decimal()`` would also take (exponents, NaN,
    underscores, other scripts' digits). Cached: a market's prices repeat."""
    if _PRICE_TEXT.fullmatch(text) is None:
        raise InvalidMessage(f"unparsable price {text[:40]!r}", "invalid_price")
    return Decimal(text)


@functools.lru_cache(maxsize=64)
def _date_terms(raw: int) -> tuple[datetime, datetime, date | None]:
    """What a fill's int64 trade date alone decides, in one cache lookup: the
    exchange times it fits (:func:`~fillcapture.feeds.t4.tradedate.date_window`)
    and its day where it is .NET ticks."""
    start, end = date_window(raw)
    return start, end, ticks_trade_date(raw)


class Decoder:
    """Stateful per-firm normalizer: accounts by id, order sides by id.

    ``handle`` takes one decoded ``ServerMessage`` payload and appends the
    fills, busts and late order sides it carries; control messages are the
    session's job. Records are judged one at a time: one that cannot be
    stored correctly goes to :attr:`quarantined` (see :class:`Quarantined`)
    and the others of its frame are decoded as usual.
    """

    def __init__(self, firm: str, metrics: Metrics) -> None:
        self.firm = firm
        self.metrics = metrics
        # Account number by T4's account id (GUID): a fill is attributed by id.
        self.accounts: dict[str, str] = {}
        self._id_of_number: dict[str, str] = {}
        # Account code and name by id (AccountDetails.account / account_name).
        self.codes: dict[str, str] = {}
        self.names: dict[str, str] = {}
        # Insertion-ordered, so the oldest orders go first once MAX_ORDERS is
        # reached: a session may last weeks and T4 forgets each day anyway.
        self.sides: dict[str, Side | None] = {}
        # Orders whose fills were emitted before the order itself was seen.
        self.sideless: dict[str, None] = {}
        # Accounts learned since the session last collected them (AccountsSeen).
        self.new_accounts: list[VisibleAccount] = []
        # Records that could not be stored, since the session last collected them.
        self.quarantined: list[Quarantined] = []
        # Orders busted by an update that named no trade, and when: a later
        # snapshot listing all the order's live trades tells which was busted
        # (see OrderRecount). Shared by the sessions of one feed.
        self.unresolved_busts: dict[str, datetime] = {}
        self.recounts: list[OrderRecount] = []
        # (id, number) pairs already reported as conflicting: logged once each;
        # and those since the session last collected them.
        self._conflicts: set[tuple[str, str]] = set()
        self.new_conflicts: list[AccountConflict] = []
        # Market terms by market id, and those new or changed since the
        # session last collected them (MarketsSeen).
        self.markets: dict[str, Market] = {}
        self.new_markets: list[Market] = []
        self._market_terms: dict[str, tuple[str, str, str]] = {}
        # Spread definitions (legs) by market id, and those new or changed
        # since the session last collected them (SpreadsSeen).
        self.spreads = Spreads(metrics)
        self.new_spreads = self.spreads.new
        # Orders with leg fills: spread orders, whose spread-level trades
        # are marked (see fillcapture.feeds.t4.legs). Insertion-ordered, bounded.
        self.spread_orders: dict[str, None] = {}
        # The last account_snapshot frame's tally, and while one is decoded,
        # its quarantined records and whether each bust was a live one.
        self.tally = SnapshotTally(Counter(), 0, ())
        self._unjudged: list[tuple[str, Any]] | None = None
        self._bust_levels: list[bool] | None = None

    def learn_account(self, account_id: str, number: str = "", code: str = "",
                      name: str = "") -> None:
        """What T4 says of an account: its number (login list, an order's
        ``account_number``), or its code and name (account details). A number
        once known for an id is never replaced, nor given to a second id: a
        conflict is logged, counted and left as it was."""
        if not account_id:
            return
        changed = False
        if number:
            known = self.accounts.get(account_id)
            owner = self._id_of_number.get(number)
            if known == number:
                pass
            elif known is not None or (owner is not None and owner != account_id):
                self._conflict(account_id, number, known, owner)
            else:
                self.accounts[account_id] = number
                self._id_of_number[number] = account_id
                changed = True
        if code and self.codes.get(account_id) != code:
            self.codes[account_id] = code
            changed = True
        if name and self.names.get(account_id) != name:
            self.names[account_id] = name
            changed = True
        if changed:
            self.new_accounts.append(self.account(account_id))

    def account(self, account_id: str) -> VisibleAccount:
        """Everything known of ``account_id``."""
        return VisibleAccount(account_id, self.accounts.get(account_id, ""),
                              self.names.get(account_id, ""), self.codes.get(account_id, ""))

    def _conflict(self, account_id: str, number: str, known: str | None,
                  owner: str | None) -> None:
        if (account_id, number) in self._conflicts:
            return
        self._conflicts.add((account_id, number))
        self.metrics.inc("accounts.conflicts")
        held_by = owner if owner != account_id else None
        log.error("account.conflict", firm=self.firm, account_id=account_id[:80],
                  number=number[:40], known_number=known, number_held_by=held_by)
        self.new_conflicts.append(AccountConflict(self.firm, account_id, number, known,
                                                  held_by))

    @property
    def conflicts(self) -> list[tuple[str, str]]:
        """(account id, number) pairs refused as conflicting, for ``status``."""
        return sorted(self._conflicts)

    def learn_market(self, details: Any) -> None:
        """Keep a market's point value, and a spread market's legs. Market
        details without a usable point value are skipped alone (their legs
        still count): they carry no fill, so the frame's fills stand."""
        market_id: str = details.market_id
        if not market_id:
            return
        if details.legs:
            self.spreads.learn(details)
        text: str = details.point_value.value
        if not text:
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
        """Append to ``fills``, ``sides`` and ``busts`` what the ``kind`` payload
        carries, and to :attr:`quarantined` the records that cannot be stored."""
        if kind == "order_update_multi":
            self._multi(message.order_update_multi, fills, sides, busts)
        elif kind == "account_snapshot":
            self._snapshot(message.account_snapshot, fills, sides, busts)
        elif kind in _RECORDS:
            self._record(kind, getattr(message, kind), None, fills, sides, busts)
        elif kind == "account_details":
            self._details(message.account_details)
        elif kind == "market_details":
            self.learn_market(message.market_details)

    # --- payloads -------------------------------------------------------

    def _details(self, details: Any) -> None:
        # ``account`` is the account's code, not its number (they may differ).
        self.learn_account(details.account_id, "", details.account, details.account_name)

    def _snapshot(
        self, snap: Any, fills: list[Fill], sides: list[OrderSide], busts: list[Bust]
    ) -> None:
        first_fill, first_bust = len(fills), len(busts)
        unjudged: list[tuple[str, Any]] = []
        levels: list[bool] = []
        self._unjudged, self._bust_levels = unjudged, levels
        try:
            for item in snap.messages:
                which = item.WhichOneof("payload")
                if which == "account_details":
                    self._details(item.account_details)
                elif which == "order_update_multi":
                    multi = item.order_update_multi
                    if not multi.account_id:
                        multi.account_id = snap.account_id
                    self._multi(multi, fills, sides, busts)
                elif which == "market_details":
                    self.learn_market(item.market_details)
        finally:
            self._unjudged = self._bust_levels = None
        dates = Counter(map(_trade_date_field, fills[first_fill:]))
        live_busts = 0
        for bust, live in zip(busts[first_bust:], levels, strict=True):
            if live:
                live_busts += 1
            else:
                dates[bust.fill.trade_date] += 1
        self.tally = SnapshotTally(dates, live_busts, tuple(unjudged))

    def _multi(
        self, multi: Any, fills: list[Fill], sides: list[OrderSide], busts: list[Bust]
    ) -> None:
        historical: bool = multi.historical
        for item in multi.updates:
            which = item.WhichOneof("payload")
            if which not in _RECORDS:
                continue
            record = getattr(item, which)
            # Ids left empty on an update are the block's.
            if not record.account_id:
                record.account_id = multi.account_id
            if not record.market_id:
                record.market_id = multi.market_id
            if which == "order_update":  # most of a snapshot: one call less
                try:
                    self._order(record, multi, historical, fills, sides, busts)
                except InvalidMessage as exc:
                    self.quarantine(exc, which, record, multi)
            else:
                self._record(which, record, multi, fills, sides, busts)

    def _record(
        self, kind: str, record: Any, block: Any, fills: list[Fill], sides: list[OrderSide],
        busts: list[Bust],
    ) -> None:
        """One order or fill message: decoded, or quarantined alone."""
        historical = block is not None and block.historical
        try:
            if kind == "order_update":
                self._order(record, block, historical, fills, sides, busts)
            elif record.change == _BUSTED:
                if kind == "order_update_trade_leg":
                    self._bust(record, record, record.leg_index, historical, busts)
                else:
                    self._bust(record, record, None, historical, busts,
                               self._kind_of_trade(record.unique_id))
            elif kind == "order_update_trade":
                self._add(fills, record.account_id, record.unique_id, record.market_id,
                          record, None, historical,
                          SPREAD_TRADE if self.spread_orders
                          and record.unique_id in self.spread_orders else OUTRIGHT)
            else:
                self._add_leg(fills, record.account_id, record.unique_id, record.market_id,
                              record, record.leg_index, historical)
        except InvalidMessage as exc:
            self.quarantine(exc, kind, record, block)

    def _order(
        self, order: Any, block: Any, historical: bool, fills: list[Fill],
        sides: list[OrderSide], busts: list[Bust],
    ) -> None:
        uid = order.unique_id
        if not uid:
            raise InvalidMessage("order without unique_id", "missing_id")
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
        # Each read of a repeated field makes a container: read each once.
        trades, legs = order.trades, order.trade_legs
        if not trades and not legs:
            if order.change == _BUSTED:
                if len(self.unresolved_busts) >= MAX_ORDERS:
                    self.unresolved_busts.clear()
                self.unresolved_busts[uid] = _time_of(order.time)
                raise InvalidMessage("order busted without naming its trade",
                                     "bust_unresolved")
            return
        if historical and uid in self.unresolved_busts and order.change != _BUSTED:
            self._recount(order)
        busted = order.change == _BUSTED
        account_id, market_id = order.account_id, order.market_id
        spread_orders = self.spread_orders
        if legs and uid not in spread_orders:
            _bounded_put(spread_orders, uid, None)
        trade_kind = SPREAD_TRADE if spread_orders and uid in spread_orders else OUTRIGHT
        for trade in trades:
            try:
                if busted:
                    self._bust(order, trade, None, historical, busts, trade_kind)
                else:
                    self._add(fills, account_id, uid, market_id, trade, None, historical,
                              trade_kind)
            except InvalidMessage as exc:
                self.quarantine(exc, "order_update", _only(order, trade, "trades"), block)
        for leg in legs:
            try:
                if busted:
                    self._bust(order, leg, leg.leg_index, historical, busts)
                else:
                    self._add_leg(fills, account_id, uid, market_id, leg, leg.leg_index,
                                  historical)
            except InvalidMessage as exc:
                self.quarantine(exc, "order_update", _only(order, leg, "trade_legs"), block)

    def _recount(self, order: Any) -> None:
        """An order with an unresolved bust, as a snapshot lists it: if its
        trades add up to its total fill volume the list is complete, and the
        stored trade missing from it is the busted one."""
        outright: list[tuple[Any, int | None]] = [(t, None) for t in order.trades]
        legs: list[tuple[Any, int | None]] = [(t, t.leg_index) for t in order.trade_legs]
        if legs:  # a spread's volume is filled once per leg: count the first leg's
            first = min(t.leg_index for t, _ in legs)
            volume = sum(t.volume for t, _ in legs if t.leg_index == first)
        else:
            volume = sum(t.volume for t, _ in outright)
        if volume != order.total_fill_volume:
            return  # not the whole list (split over frames?): wait for one that is
        keys = frozenset((t.exchange_trade_id or f"#{t.sequence_order}", leg)
                         for t, leg in outright + legs)
        self.recounts.append(OrderRecount(self.firm, order.account_id, order.unique_id, keys,
                                          self.unresolved_busts.pop(order.unique_id)))

    def _kind_of_trade(self, order_id: str) -> int:
        """A spread-level trade if its order has leg fills, else an outright."""
        return SPREAD_TRADE if order_id in self.spread_orders else OUTRIGHT

    def _bust(self, head: Any, trade: Any, leg_index: int | None, historical: bool,
              busts: list[Bust], kind: int = OUTRIGHT) -> None:
        """A bust of one fill: ``trade`` names it (an order's Trade or TradeLeg,
        or a live OrderUpdateTrade(Leg) itself), ``head`` carries the order's
        ids and the bust ``time``. A bust's volume may be zero or negative."""
        found: list[Fill] = []
        if leg_index is None:
            self._add(found, head.account_id, head.unique_id, head.market_id, trade, None,
                      historical, kind, bust=True)
        else:
            self._add_leg(found, head.account_id, head.unique_id, head.market_id, trade,
                          leg_index, historical, bust=True)
        busts.append(Bust(found[0], _time_of(head.time)))
        if self._bust_levels is not None:
            self._bust_levels.append(head is trade)

    def quarantine(self, exc: InvalidMessage, kind: str, record: Any, block: Any) -> None:
        """Keep ``record`` (inside a copy of its ``block``, if any) as a
        :class:`Quarantined`, counted by reason."""
        message = service_pb2.ServerMessage()
        if block is None:
            getattr(message, kind).CopyFrom(record)
        else:
            multi = message.order_update_multi
            multi.market_id = block.market_id
            multi.account_id = block.account_id
            multi.historical = block.historical
            getattr(multi.updates.add(), kind).CopyFrom(record)
        account_id: str = record.account_id
        if self._unjudged is not None:
            self._unjudged.append((kind, record))
        self.metrics.inc(f"quarantined.{exc.reason}")
        self.quarantined.append(Quarantined(
            self.firm, account_id, self.accounts.get(account_id, ""), record.unique_id,
            exc.reason, str(exc), kind, message.SerializeToString(), _record_date(record),
            datetime.now(UTC), self.sides.get(record.unique_id),
        ))

    def _add_leg(
        self, fills: list[Fill], account_id: str, order_id: str, market_id: str, trade: Any,
        leg_index: int, historical: bool, bust: bool = False,
    ) -> None:
        """A leg fill of spread order ``order_id`` on spread market ``market_id``,
        placed on its leg's own contract and side where the spread is defined."""
        found: list[Fill] = []
        self._add(found, account_id, order_id, market_id, trade, leg_index, historical,
                  bust=bust)
        if order_id not in self.spread_orders:
            _bounded_put(self.spread_orders, order_id, None)
        fills.append(self.spreads.place(found[0]))

    def _add(
        self, fills: list[Fill], account_id: str, order_id: str, market_id: str, trade: Any,
        leg_index: int | None, historical: bool, kind: int = OUTRIGHT, bust: bool = False,
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
            raise InvalidMessage("fill without account_id or order unique_id", "missing_id")
        if not exchange_trade_id and sequence_order <= 0:
            raise InvalidMessage("fill without exchange_trade_id or sequence_order",
                                 "missing_id")
        if volume <= 0 and not bust:
            raise InvalidMessage(f"non-positive volume {volume}", "invalid_volume")
        if leg_index is not None and leg_index < 0:
            raise InvalidMessage(f"negative leg_index {leg_index}", "invalid_leg")
        price = _price(price_text)
        seconds = when.seconds
        nanos = when.nanos
        if not _EARLIEST <= seconds < _LATEST:
            raise InvalidMessage(f"fill time {seconds} s since the epoch is out of range",
                                 "invalid_time")
        if not 0 <= nanos < 1_000_000_000:
            raise InvalidMessage(f"fill time nanos {nanos} out of range", "invalid_time")
        account = self.accounts.get(account_id)
        if account is None:
            # Without its number the account cannot be matched to an owner yet.
            raise InvalidMessage(f"account {account_id[:80]!r} not known yet",
                                 "unknown_account")
        # timedelta(days, seconds, microseconds), positional: 30% cheaper.
        exchange_time = _EPOCH + timedelta(0, seconds, nanos // 1000)
        side = self.sides.get(order_id)
        if side is None and order_id not in self.sideless:
            _bounded_put(self.sideless, order_id, None)
        raw_date: int = trade.trade_date
        # The suspect-date check inlined (see tradedate.trade_date_check): a
        # cached window per date, two comparisons per fill.
        start, end, day = _date_terms(raw_date)
        if not start <= exchange_time < end:
            note_suspect(self.metrics, self.firm, account_id, account, raw_date,
                         exchange_time, trade_date_check(raw_date, exchange_time) or "")
        # tuple.__new__ directly skips the named tuple's Python-level __new__.
        fills.append(_new_tuple(Fill, (
            self.firm, account_id, account, order_id, exchange_trade_id, sequence_order,
            leg_index, market_id, side, volume, price, price_text, exchange_time,
            day or cme_trade_date(exchange_time), historical, kind, None, None, None,
        )))


_RECORDS = frozenset({"order_update", "order_update_trade", "order_update_trade_leg"})


def _time_of(stamp: Timestamp) -> datetime:
    """A bust's time as T4 gave it, or now where it gave none usable."""
    if _EARLIEST <= stamp.seconds < _LATEST and 0 <= stamp.nanos < 1_000_000_000:
        return _EPOCH + timedelta(0, stamp.seconds, stamp.nanos // 1000)
    return datetime.now(UTC)


def _only(order: Any, trade: Any, field: str) -> Any:
    """A copy of ``order`` whose trades and legs are just ``trade`` (in ``field``)."""
    copy = type(order)()
    copy.CopyFrom(order)
    del copy.trades[:]
    del copy.trade_legs[:]
    getattr(copy, field).add().CopyFrom(trade)
    return copy


def _record_date(record: Any) -> date | None:
    """A quarantined record's trade date where it has a usable one."""
    raw: int = record.trade_date
    if not raw and len(getattr(record, "trades", ())) == 1:
        raw = record.trades[0].trade_date
    if not raw and len(getattr(record, "trade_legs", ())) == 1:
        raw = record.trade_legs[0].trade_date
    return ticks_trade_date(raw)
