"""Counting T4's account snapshots, and telling one snapshot's frames from the next."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime

from fillcapture.feeds.t4.proto import account_pb2, orderrouting_pb2
from fillcapture.feeds.t4.snapshots import SnapshotTracker, count_snapshot

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


def test_fills_are_counted_per_trade_date_and_busts_apart() -> None:
    message = snapshot(trades=3, legs=4, live=1, busts=2)
    extra = message.messages.add().order_update_multi.updates.add().order_update
    extra.trades.add(sequence_order=9, volume=1, trade_date=TICKS[TUESDAY])
    # No ticks date: the CME date of its exchange time (Tuesday 15:00 Chicago).
    stamp = int(datetime(2026, 11, 24, 21, 0, tzinfo=UTC).timestamp())
    extra.trades.add(sequence_order=10, volume=1).exchange_time.seconds = stamp
    fills, busts = count_snapshot(message)
    assert fills == Counter({MONDAY: 8, TUESDAY: 2})
    assert busts == 2


async def test_a_snapshot_spans_frames_until_the_next_begins() -> None:
    tracker = SnapshotTracker()
    numbers = {"A": "11111", "B": "22222"}
    first = tracker.received("F", numbers, snapshot("A", trades=3))
    more = tracker.received("F", numbers, snapshot("A", details=False, trades=2, busts=1))
    other = tracker.received("F", numbers, snapshot("B", details=False, trades=1))
    again = tracker.received("F", numbers, snapshot("B", trades=4))
    assert (first.first, first.account, first.trade_dates) == (True, "11111", ((MONDAY, 3),))
    assert (more.first, more.trade_dates, more.busts) == (False, ((MONDAY, 5),), 1)
    assert (other.first, other.fills) == (True, 1)
    assert (again.first, again.fills) == (True, 4)  # its details begin a new one
    tracker.new_session()
    assert tracker.received("F", numbers, snapshot("B", details=False)).first


async def test_a_reconcile_waits_for_a_snapshot_of_each_account_to_begin() -> None:
    tracker = SnapshotTracker()
    tracker.received("F", {}, snapshot("A"))  # before the reconcile asked: not fresh
    tracker.expect({"A", "B"})
    assert not await tracker.wait(0.05)
    tracker.received("F", {}, snapshot("A"))
    tracker.received("F", {}, snapshot("A", details=False))
    assert tracker.missing == {"B"}
    waiter = asyncio.create_task(tracker.wait(10))
    await asyncio.sleep(0)
    tracker.received("F", {}, snapshot("B"))
    assert await waiter
    tracker.expect(set())
    assert await tracker.wait(0)
