"""Counting T4's account snapshots, and telling one snapshot's frames from the next."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import account_pb2, orderrouting_pb2, service_pb2
from fillcapture.feeds.t4.snapshots import SnapshotTracker
from fillcapture.feeds.t4.tradedate import ticks_trade_date, trade_date_of
from fillcapture.metrics import Metrics
from fillcapture.model import SnapshotReceived

MONDAY, TUESDAY = date(2026, 11, 23), date(2026, 11, 24)
TICKS = {day: (day - date(1, 1, 1)).days * 864_000_000_000 for day in (MONDAY, TUESDAY)}
BUSTED = orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED


def snapshot(account_id: str = "ACC", *, details: bool = True, trades: int = 2,
             legs: int = 0, busts: int = 0, day: date = MONDAY,
             live: int = 0) -> account_pb2.AccountSnapshot:
    """An AccountSnapshot: one order with ``trades`` fills (or ``legs`` leg
    fills) of ``day``, ``live`` order_update_trade fills, ``busts`` busts."""
    message = account_pb2.AccountSnapshot(account_id=account_id)
    if details:
        message.messages.add().account_details.account_id = account_id
    message.messages.add().market_details.market_id = "M"
    multi = message.messages.add().order_update_multi
    multi.historical = True
    order = multi.updates.add().order_update
    for n in range(trades):
        order.trades.add(sequence_order=n + 1, volume=1, trade_date=TICKS[day])
    for n in range(legs):
        order.trade_legs.add(sequence_order=n + 1, leg_index=n % 2, volume=1,
                             trade_date=TICKS[day])
    for _ in range(live):
        multi.updates.add().order_update_trade.trade_date = TICKS[day]
    for _ in range(busts):
        multi.updates.add().order_update_trade.change = BUSTED
    return message


def walk_count(message: Any) -> tuple[Counter[date], int]:
    """The reference count, walking the protobuf alone: every ``trades`` and
    ``trade_legs`` entry and every non-bust ``order_update_trade(_leg)`` of
    the snapshot per trade date (T4's ticks, else the CME date of its exchange
    time, else of its T4 time; none outside 2000..2100), and the busts apart."""
    earliest = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
    latest = datetime(2100, 1, 1, tzinfo=UTC).timestamp()

    def day_of(trade: Any) -> date | None:
        if (ticks := ticks_trade_date(trade.trade_date)) is not None:
            return ticks
        stamp = trade.exchange_time if trade.exchange_time.seconds else trade.time
        if not earliest <= stamp.seconds < latest:
            return None
        return trade_date_of(trade.trade_date, datetime.fromtimestamp(stamp.seconds, UTC))

    fills: Counter[date] = Counter()
    busts = 0
    for item in message.messages:
        if item.WhichOneof("payload") != "order_update_multi":
            continue
        for update in item.order_update_multi.updates:
            which = update.WhichOneof("payload")
            if which == "order_update":
                trades = [*update.order_update.trades, *update.order_update.trade_legs]
            elif which in ("order_update_trade", "order_update_trade_leg"):
                if getattr(update, which).change == BUSTED:
                    busts += 1
                    continue
                trades = [getattr(update, which)]
            else:
                continue
            fills.update(day for day in map(day_of, trades) if day is not None)
    return fills, busts


def decoded(message: account_pb2.AccountSnapshot, known: bool = False
            ) -> tuple[Decoder, service_pb2.ServerMessage, int]:
    """A decoder that took ``message`` (its account's number known, if
    ``known``), the frame, and how many fills and busts it yielded."""
    decoder = Decoder("F", Metrics())
    if known:
        decoder.learn_account(message.account_id, "11111")
    frame = service_pb2.ServerMessage()
    frame.account_snapshot.CopyFrom(message)
    fills: list[Any] = []
    busts: list[Any] = []
    decoder.handle("account_snapshot", frame, fills, [], busts)
    return decoder, frame, len(fills) + len(busts)


def received(tracker: SnapshotTracker, numbers: dict[str, str],
             message: account_pb2.AccountSnapshot, known: bool = False) -> SnapshotReceived:
    """``message`` decoded and handed to ``tracker`` with the decoder's tally,
    as the t4 adapter does."""
    decoder, frame, _ = decoded(message, known)
    return tracker.received("F", numbers, frame.account_snapshot, decoder.tally)


def _priced(message: account_pb2.AccountSnapshot) -> account_pb2.AccountSnapshot:
    """``message`` with every fill complete: ids, price and exchange time set."""
    stamp = int(datetime(2026, 11, 23, 15, 0, tzinfo=UTC).timestamp())
    for item in message.messages:
        for update in item.order_update_multi.updates:
            which = update.WhichOneof("payload")
            record = getattr(update, which)
            record.unique_id = record.unique_id or "ORD"
            trades = ([*record.trades, *record.trade_legs] if which == "order_update"
                      else [record])
            for trade in trades:
                trade.sequence_order = trade.sequence_order or 99
                trade.volume = trade.volume or 1
                trade.price.value = "1.5"
                trade.exchange_time.seconds = trade.exchange_time.seconds or stamp
    return message


def _counted() -> account_pb2.AccountSnapshot:
    message = snapshot(trades=3, legs=4, live=1, busts=2)
    extra = message.messages.add().order_update_multi.updates.add().order_update
    extra.unique_id = "ORD2"
    extra.trades.add(sequence_order=9, volume=1, trade_date=TICKS[TUESDAY])
    # No ticks date: the CME date of its exchange time (Tuesday 15:00 Chicago).
    stamp = int(datetime(2026, 11, 24, 21, 0, tzinfo=UTC).timestamp())
    extra.trades.add(sequence_order=10, volume=1).exchange_time.seconds = stamp
    return message


def test_fills_are_counted_per_trade_date_and_busts_apart() -> None:
    assert walk_count(_counted()) == (Counter({MONDAY: 8, TUESDAY: 2}), 2)
    decoder, _, yielded = decoded(_priced(_counted()), known=True)
    assert (yielded, len(decoder.quarantined)) == (12, 0)
    decoder, _, yielded = decoded(_counted())
    assert (yielded, len(decoder.quarantined)) == (0, 6)
    # Decoded into fills (the account known, every fill complete) ...
    captured = received(SnapshotTracker(), {}, _priced(_counted()), known=True)
    assert captured.trade_dates == ((MONDAY, 8), (TUESDAY, 2))
    assert captured.busts == 2
    # ... or every record quarantined (the account unknown, fields missing):
    # T4 reported them all the same.
    quarantined = received(SnapshotTracker(), {}, _counted())
    assert (quarantined.trade_dates, quarantined.busts) == (captured.trade_dates, 2)


def test_a_bust_of_an_orders_trade_counts_as_the_fill_it_names() -> None:
    message = _priced(snapshot(trades=2))
    message.messages[2].order_update_multi.updates[0].order_update.change = BUSTED
    assert walk_count(message) == (Counter({MONDAY: 2}), 0)
    captured = received(SnapshotTracker(), {}, message, known=True)
    assert (captured.trade_dates, captured.busts) == (((MONDAY, 2),), 0)


async def test_a_snapshot_spans_frames_until_the_next_begins() -> None:
    tracker = SnapshotTracker()
    numbers = {"A": "11111", "B": "22222"}
    first = received(tracker, numbers, snapshot("A", trades=3))
    more = received(tracker, numbers, snapshot("A", details=False, trades=2, busts=1))
    other = received(tracker, numbers, snapshot("B", details=False, trades=1))
    again = received(tracker, numbers, snapshot("B", trades=4))
    assert (first.first, first.account, first.trade_dates) == (True, "11111", ((MONDAY, 3),))
    assert (more.first, more.trade_dates, more.busts) == (False, ((MONDAY, 5),), 1)
    assert (other.first, other.fills) == (True, 1)
    assert (again.first, again.fills) == (True, 4)  # its details begin a new one
    tracker.new_session()
    assert received(tracker, numbers, snapshot("B", details=False)).first


async def test_a_reconcile_waits_for_a_snapshot_of_each_account_to_begin() -> None:
    tracker = SnapshotTracker()
    received(tracker, {}, snapshot("A"))  # before the reconcile asked: not fresh
    tracker.expect({"A", "B"})
    assert not await tracker.wait(0.05)
    received(tracker, {}, snapshot("A"))
    received(tracker, {}, snapshot("A", details=False))
    assert tracker.missing == {"B"}
    waiter = asyncio.create_task(tracker.wait(10))
    await asyncio.sleep(0)
    received(tracker, {}, snapshot("B"))
    assert await waiter
    tracker.expect(set())
    assert await tracker.wait(0)
