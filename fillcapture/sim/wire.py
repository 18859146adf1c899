"""Protobuf frames the simulator sends: login, subscription, heartbeat, orders,
fills, leg fills, busts and account snapshots, each returned as the serialized ``ServerMessage``.

Live orders, fills and busts go inside an ``OrderUpdateMulti`` naming the
account and market, as CTS's clients expect (``multi=False``: bare).

Every update of a spread order names the spread's market (its leg fills
too: the legs' contracts are for the market's details to say, in
``MarketDetails.legs``, where a leg's ``volume`` is its ratio signed by its
direction). A spread-level trade is an ``order_update_trade`` (in a snapshot,
one of the order's ``trades``) beside its legs' ``order_update_trade_leg``
(``trade_legs``).

A bust is an ``order_update_trade`` (an outright fill) or ``order_update_trade_leg``
(a leg fill) with ``change = ORDER_CHANGE_TRADE_BUSTED`` naming the busted
fill: its order, account, market, ``exchange_trade_id``, ``sequence_order``,
``leg_index``, ``volume``, ``price`` and ``trade_date`` as in the fill, its
``exchange_time`` the fill's, ``time`` the bust's and ``status`` the order's.
A snapshot keeps a busted fill among its order's trades and adds the same
message right after that order's ``order_update``.

Over 400 lines because it builds every message the simulator sends, each a
small function beside the shapes it may take.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from fillcapture.feeds.t4.proto import (
    account_pb2,
    auth_pb2,
    market_pb2,
    orderrouting_pb2,
    service_pb2,
)
from fillcapture.sim.book import Market, Order, OrderView, SimAccount
from fillcapture.sim.config import SimConfig

_or = orderrouting_pb2
WORKING = _or.ORDER_STATUS_WORKING
FINISHED = _or.ORDER_STATUS_FINISHED
SUBMITTED = _or.ORDER_CHANGE_SUBMISSION_SUCCESS
TRADE = _or.ORDER_CHANGE_TRADE
TRADE_COMPLETED = _or.ORDER_CHANGE_TRADE_COMPLETED
TRADE_BUSTED = _or.ORDER_CHANGE_TRADE_BUSTED


def set_time(stamp: Timestamp, micros: int) -> None:
    """Microseconds since the epoch, exactly (the ledger keeps the same micros)."""
    seconds, fraction = divmod(micros, 1_000_000)
    stamp.seconds = seconds
    stamp.nanos = fraction * 1000


def heartbeat(timestamp_ms: int) -> bytes:
    return service_pb2.ServerMessage(
        heartbeat=service_pb2.Heartbeat(timestamp=timestamp_ms)
    ).SerializeToString()


def login_ok(config: SimConfig, session_id: str, accounts: Sequence[SimAccount]) -> bytes:
    response = auth_pb2.LoginResponse(
        result=auth_pb2.LOGIN_RESULT_SUCCESS,
        session_id=session_id,
        user_id=config.user_id,
        firm_id=config.firm_id,
        firm=config.firm,
        username=config.username,
        roles=["RiskManager"] if config.risk_manager else [],
        server_name="fillcapture-sim",
    )
    for account in accounts:
        response.accounts.add(
            account_id=account.account_id,
            account_number=account.number,
            account_name=account.name,
            display_name=account.number,
        )
    return service_pb2.ServerMessage(login_response=response).SerializeToString()


def login_failed(result: auth_pb2.LoginResult, message: str) -> bytes:
    response = auth_pb2.LoginResponse(result=result, error_message=message)
    return service_pb2.ServerMessage(login_response=response).SerializeToString()


def subscribe_response(success: bool, errors: Sequence[str]) -> bytes:
    response = account_pb2.AccountSubscribeResponse(success=success, errors=errors)
    return service_pb2.ServerMessage(account_subscribe_response=response).SerializeToString()


def _order_state(update: _or.OrderUpdate, order: Order, fill_count: int) -> None:
    """Full state of ``order`` as it stood after its first ``fill_count`` fills."""
    filled = order.filled_after[fill_count - 1] if fill_count else 0
    finished = filled == order.volume
    update.unique_id = order.unique_id
    update.account_id = order.account.account_id
    update.account_number = order.account.number
    update.market_id = order.market.market_id
    update.exchange_id = order.market.exchange_id
    update.buy_sell = _or.BUY_SELL_BUY if order.side > 0 else _or.BUY_SELL_SELL
    update.status = FINISHED if finished else WORKING
    update.change = TRADE_COMPLETED if finished else TRADE if fill_count else SUBMITTED
    update.current_volume = order.volume
    update.total_fill_volume = filled
    update.working_volume = order.volume - filled
    update.trade_date = order.trade_date_ticks
    last = order.fill_micros[fill_count - 1] if fill_count else order.submit_micros
    set_time(update.time, last)
    set_time(update.exchange_time, last)
    set_time(update.submit_time, order.submit_micros)


def order_submitted(order: Order, multi: bool = True) -> bytes:
    """The live ``order_update`` announcing a new working order (it carries the
    side), inside an ``OrderUpdateMulti`` unless ``multi`` is False."""
    message = service_pb2.ServerMessage()
    if not multi:
        _order_state(message.order_update, order, 0)
        return message.SerializeToString()
    block = _block(message, order)
    _order_state(block.updates.add().order_update, order, 0)
    return message.SerializeToString()


def _block(message: service_pb2.ServerMessage, order: Order) -> _or.OrderUpdateMulti:
    """The live ``OrderUpdateMulti`` of ``order``'s account and market."""
    block = message.order_update_multi
    block.account_id = order.account.account_id
    block.market_id = order.market.market_id
    return block


class TradeFrames:
    """Builds live ``order_update_trade`` frames (inside an ``OrderUpdateMulti``
    unless ``multi`` is False) from one reused message: setting fields on a
    template is several times cheaper than constructing a message."""

    def __init__(self, multi: bool = True) -> None:
        self._message = service_pb2.ServerMessage()
        self._block = self._message.order_update_multi if multi else None
        self._trade = (self._block.updates.add().order_update_trade if self._block is not None
                       else self._message.order_update_trade)

    def build(self, order: Order, index: int = -1) -> bytes:
        """The frame for ``order``'s fill ``index`` (its newest by default),
        already recorded on the order: an outright fill or a spread-level trade."""
        fill = order.fills[index]
        seconds, fraction = divmod(order.fill_micros[index], 1_000_000)
        nanos = fraction * 1000
        working = order.volume - order.filled
        trade = self._trade
        if self._block is not None:
            self._block.account_id = fill.account_id
            self._block.market_id = fill.market_id
        trade.unique_id = order.unique_id
        trade.account_id = fill.account_id
        trade.market_id = order.market.market_id
        stamp = trade.time
        stamp.seconds = seconds
        stamp.nanos = nanos
        stamp = trade.exchange_time
        stamp.seconds = seconds
        stamp.nanos = nanos
        trade.change = TRADE if working else TRADE_COMPLETED
        trade.status = WORKING if working else FINISHED
        trade.volume = fill.volume
        trade.price.value = fill.price
        trade.residual_volume = working
        trade.total_fill_volume = order.filled
        trade.working_volume = working
        trade.exchange_trade_id = fill.exchange_trade_id
        trade.trade_date = order.trade_date_ticks
        trade.sequence_order = fill.sequence_order
        return self._message.SerializeToString()


class TradeLegFrames:
    """Builds live ``order_update_trade_leg`` frames from one reused message, as
    :class:`TradeFrames` does for outright fills."""

    def __init__(self, multi: bool = True) -> None:
        self._message = service_pb2.ServerMessage()
        self._block = self._message.order_update_multi if multi else None
        self._leg = (self._block.updates.add().order_update_trade_leg
                     if self._block is not None else self._message.order_update_trade_leg)

    def build(self, order: Order, index: int) -> bytes:
        """The frame for leg fill ``order.fills[index]`` of a spread fill already recorded."""
        fill = order.fills[index]
        working = order.volume - order.filled
        leg = self._leg
        if self._block is not None:
            self._block.account_id = fill.account_id
            self._block.market_id = fill.market_id
        leg.unique_id = order.unique_id
        leg.account_id = fill.account_id
        leg.market_id = order.market.market_id  # the spread's, not the leg's contract
        set_time(leg.time, order.fill_micros[index])
        set_time(leg.exchange_time, order.fill_micros[index])
        leg.change = TRADE if working else TRADE_COMPLETED
        leg.status = WORKING if working else FINISHED
        assert fill.leg_index is not None
        leg.leg_index = fill.leg_index
        leg.volume = fill.volume
        leg.price.value = fill.price
        leg.residual_volume = working
        leg.exchange_trade_id = fill.exchange_trade_id
        leg.trade_date = order.trade_date_ticks
        leg.sequence_order = fill.sequence_order
        return self._message.SerializeToString()


def _set_bust(
    part: _or.OrderUpdateTrade | _or.OrderUpdateTradeLeg,
    order: Order,
    index: int,
    bust_micros: int,
    status: _or.OrderStatus,
) -> None:
    """The bust of ``order.fills[index]`` into an empty trade or trade-leg message."""
    fill = order.fills[index]
    part.unique_id = order.unique_id
    part.account_id = fill.account_id
    part.market_id = order.market.market_id
    set_time(part.time, bust_micros)
    set_time(part.exchange_time, order.fill_micros[index])
    part.change = TRADE_BUSTED
    part.status = status
    part.volume = fill.volume
    part.price.value = fill.price
    part.exchange_trade_id = fill.exchange_trade_id
    part.trade_date = order.trade_date_ticks
    part.sequence_order = fill.sequence_order
    if isinstance(part, _or.OrderUpdateTradeLeg):
        assert fill.leg_index is not None
        part.leg_index = fill.leg_index


def bust(order: Order, index: int, bust_micros: int, multi: bool = True) -> bytes:
    """The live frame busting ``order.fills[index]``, sent when the bust is made
    (inside an ``OrderUpdateMulti`` unless ``multi`` is False)."""
    message = service_pb2.ServerMessage()
    holder: Any = _block(message, order).updates.add() if multi else message
    leg = order.fills[index].leg_index is not None
    part = holder.order_update_trade_leg if leg else holder.order_update_trade
    status = FINISHED if order.filled == order.volume else WORKING
    _set_bust(part, order, index, bust_micros, status)
    return message.SerializeToString()


_Piece = tuple[Order, int, int, int, int]
"""Part of an order in one snapshot frame: the order, its fill and bust counts
in the view, and the range of fills this frame carries."""


def snapshot_frames(
    config: SimConfig, account: SimAccount, views: Sequence[OrderView], chunk: int
) -> Iterator[bytes]:
    """The ``account_snapshot`` frames of one account's book, built lazily.

    Orders stay whole in a frame unless one alone has more than ``chunk``
    fills (leg fills count one each); then its trades are spread over frames,
    each repeating its state, and a bust goes with the frame holding its fill.
    The first frame starts with ``account_details``; an empty book gets just that.
    """
    pieces: list[_Piece] = []
    count = 0
    first = True
    for order, fill_count, bust_count in views:
        if pieces and count + fill_count > chunk:
            yield _snapshot_frame(config, account, pieces, first)
            pieces, count, first = [], 0, False
        start = 0
        while fill_count - start > chunk:
            piece = (order, fill_count, bust_count, start, start + chunk)
            yield _snapshot_frame(config, account, [piece], first)
            start += chunk
            first = False
        pieces.append((order, fill_count, bust_count, start, fill_count))
        count += fill_count - start
    if pieces or first:
        yield _snapshot_frame(config, account, pieces, first)


def _snapshot_frame(
    config: SimConfig,
    account: SimAccount,
    pieces: Sequence[_Piece],
    with_details: bool,
) -> bytes:
    message = service_pb2.ServerMessage()
    snapshot = message.account_snapshot
    snapshot.account_id = account.account_id
    if with_details:
        details = snapshot.messages.add().account_details
        details.account_id = account.account_id
        details.account = account.number
        details.account_name = account.name
        details.display_name = account.number
        details.firm = config.firm
        details.firm_id = config.firm_id
    blocks: dict[str, _or.OrderUpdateMulti] = {}
    described: set[str] = set()
    late: list[Market] = []  # spreads described after their orders (late_definitions)
    for order, fill_count, bust_count, start, end in pieces:
        market = order.market
        block = blocks.get(market.market_id)
        if block is None:
            # T4 describes the markets an account trades in its snapshot.
            if market.legs and config.late_definitions:
                late.append(market)
            else:
                _describe(snapshot, market, described)
            block = blocks[market.market_id] = snapshot.messages.add().order_update_multi
            block.account_id = account.account_id
            block.market_id = market.market_id
            block.historical = True
        update = block.updates.add().order_update
        _order_state(update, order, fill_count)
        _add_trades(update, order, start, end)
        if market.legs:
            _add_trade_legs(update, order, start, end)
        if bust_count:
            _add_busts(block, order, bust_count, start, end, update.status)
    for market in late:
        _describe(snapshot, market, described)
    return message.SerializeToString()


def _describe(snapshot: account_pb2.AccountSnapshot, market: Market, described: set[str]
              ) -> None:
    """``market``'s details into ``snapshot`` (a spread's legs' first), once a frame."""
    for each in (*(leg.market for leg in market.legs), market):
        if each.market_id not in described:
            described.add(each.market_id)
            _market_details(snapshot.messages.add().market_details, each)


def market_details(market: Market) -> bytes:
    message = service_pb2.ServerMessage()
    _market_details(message.market_details, market)
    return message.SerializeToString()


def _market_details(details: market_pb2.MarketDetails, market: Market) -> None:
    details.market_id = market.market_id
    details.exchange_id = market.exchange_id
    details.contract_id = market.contract_id
    details.decimals = market.decimals
    details.point_value.value = market.point_value
    if market.legs:
        details.strategy_type = market.strategy_type
        for leg in market.legs:
            details.legs.add(market_id=leg.market.market_id, volume=leg.direction * leg.ratio)


def _add_busts(
    block: _or.OrderUpdateMulti,
    order: Order,
    bust_count: int,
    start: int,
    end: int,
    status: _or.OrderStatus,
) -> None:
    """The view's busts of fills ``start:end``, as the messages a live bust would be."""
    for index, bust_micros in order.busts[:bust_count]:
        if start <= index < end:
            entry = block.updates.add()
            part = entry.order_update_trade if order.fills[index].leg_index is None \
                else entry.order_update_trade_leg
            _set_bust(part, order, index, bust_micros, status)


def _add_trade_legs(update: _or.OrderUpdate, order: Order, start: int, end: int) -> None:
    fills = order.fills
    stamps = order.fill_micros
    trade_date = order.trade_date_ticks
    add = update.trade_legs.add
    for index in range(start, end):
        fill = fills[index]
        if fill.leg_index is None:
            continue
        leg = add(
            sequence_order=fill.sequence_order,
            leg_index=fill.leg_index,
            volume=fill.volume,
            residual_volume=order.volume - order.filled_after[index],
            exchange_trade_id=fill.exchange_trade_id,
            trade_date=trade_date,
        )
        leg.price.value = fill.price
        set_time(leg.time, stamps[index])
        set_time(leg.exchange_time, stamps[index])


def _add_trades(update: _or.OrderUpdate, order: Order, start: int, end: int) -> None:
    """The order's fills ``start:end`` without a leg index: an outright
    order's fills, or a spread order's spread-level trades."""
    fills = order.fills
    stamps = order.fill_micros
    trade_date = order.trade_date_ticks
    add = update.trades.add
    for index in range(start, end):
        fill = fills[index]
        if fill.leg_index is not None:
            continue
        seconds, fraction = divmod(stamps[index], 1_000_000)
        nanos = fraction * 1000
        trade = add(
            sequence_order=fill.sequence_order,
            volume=fill.volume,
            residual_volume=order.volume - order.filled_after[index],
            exchange_trade_id=fill.exchange_trade_id,
            trade_date=trade_date,
        )
        trade.price.value = fill.price
        stamp = trade.time
        stamp.seconds = seconds
        stamp.nanos = nanos
        stamp = trade.exchange_time
        stamp.seconds = seconds
        stamp.nanos = nanos
