"""A spread order's legs arriving after its spread-level trade, on both engines:
the trade is marked as the spread's (its legs carry the position), and a
recorded day it belongs to is recorded again."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fillcapture.model import LEG, Fill, Side, SpreadDefinition, SpreadLeg
from fillcapture.positions import record_positions
from fillcapture.store import FillQuery, Owner, Store
from tests.store.factories import make_fill

SPREAD = "XCME_Eq ES (Z26-H27)"
FRONT, BACK = "XCME_Eq ES (Z26)", "XCME_Eq ES (H27)"
CALENDAR = SpreadDefinition(SPREAD, 1, (SpreadLeg(FRONT, 1, 1), SpreadLeg(BACK, 1, -1)))
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)


def _at(day: date, second: int) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=14, seconds=second)


def _legs(order: str, n: int) -> list[Fill]:
    return [make_fill(n + i, order_id=order, exchange_trade_id=f"X{n}", leg_index=i, kind=LEG,
                      market_id=leg.market_id, side=side, leg_sign=leg.direction,
                      order_side=Side.BUY, spread_market_id=SPREAD,
                      exchange_time=_at(DAY1, n), trade_date=DAY1)
            for i, (leg, side) in enumerate(zip(CALENDAR.legs, (Side.BUY, Side.SELL),
                                                strict=True))]


async def test_late_legs_mark_their_orders_spread_trades_in_one_batch(store: Store) -> None:
    await store.seed_registry([Owner("A", None, "11111")])
    # Three spread orders' spread-level trades stored as outright fills, and a
    # plain order of the same day that no leg names.
    trades = [make_fill(n, order_id=f"s{n}", exchange_trade_id=f"X{n}", market_id=SPREAD,
                        side=Side.BUY, price_text="-28.25", exchange_time=_at(DAY1, n),
                        trade_date=DAY1) for n in (1, 2, 3)]
    plain = make_fill(9, order_id="o9", market_id=FRONT, exchange_time=_at(DAY1, 9),
                      trade_date=DAY1)
    assert await store.insert_fills([*trades, plain]) == 4
    for day in (DAY1, DAY2):
        assert await record_positions(store, "SIMFIRM", day) is not None
    assert await store.summary_coverage("SIMFIRM") == DAY2
    await store.save_spreads([CALENDAR])

    # The legs of two of them arrive in one batch.
    assert await store.insert_fills([*_legs("s1", 1), *_legs("s2", 2)]) == 4

    kinds = {(fill.order_id, fill.leg_index): fill.kind
             async for fill in store.fills(FillQuery(include_busted=True))}
    assert kinds == {("s1", None): "spread", ("s1", 0): "leg", ("s1", 1): "leg",
                     ("s2", None): "spread", ("s2", 0): "leg", ("s2", 1): "leg",
                     ("s3", None): "outright", ("o9", None): "outright"}
    # DAY1's recorded rows counted the spread trades in: recorded again from before it.
    assert await store.summary_coverage("SIMFIRM") == DAY1 - timedelta(days=1)
