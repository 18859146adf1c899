"""What a client makes of the simulator's frames: every fill and bust they carry,
comparable with the ledger, live or from a snapshot."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp
from websockets.asyncio.client import ClientConnection

from fillcapture.feeds.t4.proto import orderrouting_pb2, service_pb2
from fillcapture.sim import LedgerFill

BUSTED = orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class Seen:
    """A fill (``bust_micros is None``) or a bust of one, as a client decodes it."""

    account_id: str
    order_id: str
    exchange_trade_id: str
    sequence_order: int
    leg_index: int | None
    volume: int
    price: str
    exchange_micros: int
    trade_date: int
    bust_micros: int | None = None


def micros(moment: datetime.datetime) -> int:
    return (moment - _EPOCH) // datetime.timedelta(microseconds=1)


def stamp_micros(stamp: Timestamp) -> int:
    assert stamp.nanos % 1000 == 0
    return stamp.seconds * 1_000_000 + stamp.nanos // 1000


def ticks(day: datetime.date) -> int:
    return (day - datetime.date(1, 1, 1)).days * 864_000_000_000


def fill_of(fill: LedgerFill) -> Seen:
    """The ledger fill as a client should see it."""
    return Seen(
        fill.account_id,
        fill.order_id,
        fill.exchange_trade_id,
        fill.sequence_order,
        fill.leg_index,
        fill.volume,
        fill.price,
        micros(fill.exchange_time),
        ticks(fill.trade_date),
    )


def bust_of(fill: LedgerFill) -> Seen:
    """The bust of a busted ledger fill as a client should see it."""
    assert fill.busted_at is not None
    return dataclasses.replace(fill_of(fill), bust_micros=micros(fill.busted_at))


def _live(
    part: orderrouting_pb2.OrderUpdateTrade | orderrouting_pb2.OrderUpdateTradeLeg,
) -> Seen:
    leg = part.leg_index if isinstance(part, orderrouting_pb2.OrderUpdateTradeLeg) else None
    return Seen(
        part.account_id,
        part.unique_id,
        part.exchange_trade_id,
        part.sequence_order,
        leg,
        part.volume,
        part.price.value,
        stamp_micros(part.exchange_time),
        part.trade_date,
        stamp_micros(part.time) if part.change == BUSTED else None,
    )


def _snapshot_fills(order: orderrouting_pb2.OrderUpdate) -> list[Seen]:
    seen = []
    for trade in order.trades:
        seen.append(
            Seen(
                order.account_id,
                order.unique_id,
                trade.exchange_trade_id,
                trade.sequence_order,
                None,
                trade.volume,
                trade.price.value,
                stamp_micros(trade.exchange_time),
                trade.trade_date,
            )
        )
    for leg in order.trade_legs:
        seen.append(
            Seen(
                order.account_id,
                order.unique_id,
                leg.exchange_trade_id,
                leg.sequence_order,
                leg.leg_index,
                leg.volume,
                leg.price.value,
                stamp_micros(leg.exchange_time),
                leg.trade_date,
            )
        )
    return seen


def seen_in(message: service_pb2.ServerMessage) -> list[Seen]:
    """Every fill and bust a frame carries, snapshot or live, in frame order."""
    kind = message.WhichOneof("payload")
    if kind == "order_update_trade":
        return [_live(message.order_update_trade)]
    if kind == "order_update_trade_leg":
        return [_live(message.order_update_trade_leg)]
    seen: list[Seen] = []
    if kind != "account_snapshot":
        return seen
    for block in message.account_snapshot.messages:
        if block.WhichOneof("payload") != "order_update_multi":
            continue
        assert block.order_update_multi.historical
        for update in block.order_update_multi.updates:
            entry = update.WhichOneof("payload")
            if entry == "order_update":
                seen.extend(_snapshot_fills(update.order_update))
            elif entry == "order_update_trade":
                seen.append(_live(update.order_update_trade))
            else:
                assert entry == "order_update_trade_leg"
                seen.append(_live(update.order_update_trade_leg))
    return seen


async def collect(ws: ClientConnection, quiet: float = 0.5) -> list[bytes | str]:
    """Every frame until the server has sent nothing for ``quiet`` seconds."""
    frames: list[bytes | str] = []
    while True:
        try:
            frames.append(await asyncio.wait_for(ws.recv(), quiet))
        except TimeoutError:
            return frames


def decoded(frames: list[bytes | str]) -> list[service_pb2.ServerMessage]:
    """The frames, all of which must be binary ``ServerMessage`` frames, live
    updates taken out of their block (see :func:`bare`)."""
    messages = []
    for data in frames:
        assert isinstance(data, bytes)
        messages.append(bare(service_pb2.ServerMessage.FromString(data)))
    return messages


def bare(message: service_pb2.ServerMessage) -> service_pb2.ServerMessage:
    """A live update as the one message it carries: the simulator sends each
    live order, fill and bust alone in an ``OrderUpdateMulti`` naming its
    account and market (checked here), as T4 does."""
    if message.WhichOneof("payload") != "order_update_multi":
        return message
    block = message.order_update_multi
    assert len(block.updates) == 1, "a live block carries one update"
    kind = block.updates[0].WhichOneof("payload")
    assert kind is not None
    record = getattr(block.updates[0], kind)
    assert (record.account_id, record.market_id) == (block.account_id, block.market_id)
    out = service_pb2.ServerMessage()
    getattr(out, kind).CopyFrom(record)
    return out
