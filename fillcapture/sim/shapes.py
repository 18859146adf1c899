"""Shapes of T4 messages the official v1 schema allows, beyond the plainest.

CTS's own clients read live order updates and trades only inside an
``OrderUpdateMulti`` (they have no case for a top-level ``order_update_trade``),
so that is how the simulator sends them by default; ``top_level_updates``
sends them bare instead. The other shapes, each off by default:

- ``account_codes``: ``AccountDetails.account`` carries the account's code
  (``C`` + its number), not its number; the number comes only from the login's
  account list and each order's ``account_number``.
- ``ids_on_block``: updates inside an ``OrderUpdateMulti`` leave
  ``account_id`` and ``market_id`` empty; only the block names them.
- ``busts_as_orders``: a bust is an ``OrderUpdate`` with change
  ``ORDER_CHANGE_TRADE_BUSTED`` whose ``trades`` (or ``trade_legs``) entry
  names the busted fill, not an ``order_update_trade(_leg)``.
- ``corrupt_fraction``: a live fill's ``OrderUpdateMulti`` also carries a
  corrupt copy of it (price text ``"abc"``, its trade id suffixed
  ``-corrupt``), which is no fill: ``Shaper.corrupt`` lists each one sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from random import Random
from typing import Any

from fillcapture.feeds.t4.proto import orderrouting_pb2 as _or
from fillcapture.feeds.t4.proto import service_pb2
from fillcapture.sim.config import SimConfig

_LIVE = ("order_update", "order_update_trade", "order_update_trade_leg")
_TRADE_FIELDS = ("sequence_order", "volume", "exchange_trade_id", "trade_date")


def code_of(number: str) -> str:
    """The account code ``account_codes`` gives account ``number``."""
    return f"C{number}"


class Shaper:
    """Reshapes the frames the generator and the book produce, per the config."""

    def __init__(self, config: SimConfig) -> None:
        self.multi = not config.top_level_updates
        self.codes = config.account_codes
        self.ids_on_block = config.ids_on_block
        self.busts_as_orders = config.busts_as_orders
        self.corrupt_fraction = config.corrupt_fraction
        self._rng = Random(f"{config.seed}/corrupt")
        # (account number, order id, exchange trade id) of each corrupt record sent.
        self.corrupt: list[tuple[str, str, str]] = []
        # Live frames come from the generator already in (or out of) their
        # block; only these shapes need a frame taken apart.
        self.live_active = bool(self.busts_as_orders or self.ids_on_block
                                or self.corrupt_fraction)
        self.snapshot_active = self.codes or self.ids_on_block

    def live(self, frames: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        return [(number, self._live(number, frame)) for number, frame in frames]

    def snapshot(self, frames: Iterable[bytes]) -> Iterator[bytes]:
        for frame in frames:
            message = service_pb2.ServerMessage.FromString(frame)
            for item in message.account_snapshot.messages:
                which = item.WhichOneof("payload")
                if which == "account_details" and self.codes:
                    details = item.account_details
                    details.account = code_of(details.account)
                elif which == "order_update_multi" and self.ids_on_block:
                    for update in item.order_update_multi.updates:
                        record = getattr(update, update.WhichOneof("payload") or "order_update")
                        record.account_id = ""
                        record.market_id = ""
            yield message.SerializeToString()

    def _live(self, number: str, frame: bytes) -> bytes:
        message = service_pb2.ServerMessage.FromString(frame)
        kind = message.WhichOneof("payload")
        if kind == "order_update_multi" and len(message.order_update_multi.updates) == 1:
            update = message.order_update_multi.updates[0]
            kind = update.WhichOneof("payload")
            message = service_pb2.ServerMessage()
            if kind is not None:
                getattr(message, kind).CopyFrom(getattr(update, kind))
        if kind not in _LIVE:
            return frame
        record: Any = getattr(message, kind)
        if self.busts_as_orders and kind != "order_update" \
                and record.change == _or.ORDER_CHANGE_TRADE_BUSTED:
            record, kind = _bust_order(record, kind), "order_update"
        if not self.multi:
            out = service_pb2.ServerMessage()
            getattr(out, kind).CopyFrom(record)
            return out.SerializeToString()
        out = service_pb2.ServerMessage()
        block = out.order_update_multi
        block.account_id = record.account_id
        block.market_id = record.market_id
        entry = getattr(block.updates.add(), kind)
        entry.CopyFrom(record)
        if kind == "order_update_trade" and record.change != _or.ORDER_CHANGE_TRADE_BUSTED \
                and self.corrupt_fraction and self._rng.random() < self.corrupt_fraction:
            bad = block.updates.add().order_update_trade
            bad.CopyFrom(record)
            bad.exchange_trade_id = f"{record.exchange_trade_id}-corrupt"
            bad.price.value = "abc"
            self.corrupt.append((number, bad.unique_id, bad.exchange_trade_id))
        if self.ids_on_block:
            for update in block.updates:
                part = getattr(update, update.WhichOneof("payload") or kind)
                part.account_id = ""
                part.market_id = ""
        return out.SerializeToString()


def _bust_order(part: Any, kind: str) -> _or.OrderUpdate:
    """The ``OrderUpdate`` form of a bust message: the order's ids, the bust's
    time and change, and the busted fill as its one trade (or leg trade)."""
    order = _or.OrderUpdate(
        unique_id=part.unique_id, account_id=part.account_id, market_id=part.market_id,
        change=part.change, status=part.status)
    order.time.CopyFrom(part.time)
    entry: Any = order.trade_legs.add() if kind == "order_update_trade_leg" \
        else order.trades.add()
    for name in _TRADE_FIELDS:
        setattr(entry, name, getattr(part, name))
    if kind == "order_update_trade_leg":
        entry.leg_index = part.leg_index
    entry.price.CopyFrom(part.price)
    entry.exchange_time.CopyFrom(part.exchange_time)
    return order
