"""Protobuf frames the simulator sends: login, subscription, heartbeat, orders,
fills and account snapshots, each returned as the serialized ``ServerMessage``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from fillcapture.feeds.t4.proto import (
    account_pb2,
    auth_pb2,
    orderrouting_pb2,
    service_pb2,
)
from fillcapture.sim.book import Order, OrderView, SimAccount
from fillcapture.sim.config import SimConfig

_or = orderrouting_pb2
WORKING = _or.ORDER_STATUS_WORKING
FINISHED = _or.ORDER_STATUS_FINISHED
SUBMITTED = _or.ORDER_CHANGE_SUBMISSION_SUCCESS
TRADE = _or.ORDER_CHANGE_TRADE
TRADE_COMPLETED = _or.ORDER_CHANGE_TRADE_COMPLETED


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
    filled = sum(fill.volume for fill in order.fills[:fill_count])
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


def order_submitted(order: Order) -> bytes:
    """The live ``order_update`` announcing a new working order (it carries the side)."""
    message = service_pb2.ServerMessage()
    _order_state(message.order_update, order, 0)
    return message.SerializeToString()


class TradeFrames:
    """Builds live ``order_update_trade`` frames from one reused message: setting
    fields on a template is several times cheaper than constructing a message."""

    def __init__(self) -> None:
        self._message = service_pb2.ServerMessage()
        self._trade = self._message.order_update_trade

    def build(self, order: Order) -> bytes:
        """The frame for ``order``'s newest fill, already recorded on the order."""
        fill = order.fills[-1]
        seconds, fraction = divmod(order.fill_micros[-1], 1_000_000)
        nanos = fraction * 1000
        working = order.volume - order.filled
        trade = self._trade
        trade.unique_id = order.unique_id
        trade.account_id = fill.account_id
        trade.market_id = fill.market_id
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


def snapshot_frames(
    config: SimConfig, account: SimAccount, views: Sequence[OrderView], chunk: int
) -> Iterator[bytes]:
    """The ``account_snapshot`` frames of one account's book, built lazily.

    Orders stay whole in a frame unless one alone has more than ``chunk``
    fills; then its trades are spread over frames, each repeating its state.
    The first frame starts with ``account_details``; an empty book gets just that.
    """
    pieces: list[tuple[Order, int, int, int]] = []  # order, fill count, first, end
    count = 0
    first = True
    for order, fill_count in views:
        if pieces and count + fill_count > chunk:
            yield _snapshot_frame(config, account, pieces, first)
            pieces, count, first = [], 0, False
        start = 0
        while fill_count - start > chunk:
            piece = (order, fill_count, start, start + chunk)
            yield _snapshot_frame(config, account, [piece], first)
            start += chunk
            first = False
        pieces.append((order, fill_count, start, fill_count))
        count += fill_count - start
    if pieces or first:
        yield _snapshot_frame(config, account, pieces, first)


def _snapshot_frame(
    config: SimConfig,
    account: SimAccount,
    pieces: Sequence[tuple[Order, int, int, int]],
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
    for order, fill_count, start, end in pieces:
        market_id = order.market.market_id
        block = blocks.get(market_id)
        if block is None:
            block = blocks[market_id] = snapshot.messages.add().order_update_multi
            block.account_id = account.account_id
            block.market_id = market_id
            block.historical = True
        update = block.updates.add().order_update
        _order_state(update, order, fill_count)
        _add_trades(update, order, start, end)
    return message.SerializeToString()


def _add_trades(update: _or.OrderUpdate, order: Order, start: int, end: int) -> None:
    fills = order.fills
    stamps = order.fill_micros
    remaining = order.volume - sum(fill.volume for fill in fills[:start])
    trade_date = order.trade_date_ticks
    add = update.trades.add
    for index in range(start, end):
        fill = fills[index]
        remaining -= fill.volume
        seconds, fraction = divmod(stamps[index], 1_000_000)
        nanos = fraction * 1000
        trade = add(
            sequence_order=fill.sequence_order,
            volume=fill.volume,
            residual_volume=remaining,
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
