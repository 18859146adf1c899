"""Spread legs on their own contracts: the t4 normalizer on hand-built messages,
and what a real SQLite store makes of its fills."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import orderrouting_pb2, service_pb2
from fillcapture.metrics import Metrics
from fillcapture.model import (
    LEG,
    OUTRIGHT,
    SPREAD_TRADE,
    Fill,
    OrderSide,
    Side,
    SpreadDefinition,
    SpreadLeg,
)
from fillcapture.reports import summarize
from fillcapture.store import FillQuery, Owner
from tests.conftest import store_at
from tests.feeds.test_decode import _decode_all as _decode

WHEN = datetime(2026, 11, 23, 15, 30, 1, 123456, tzinfo=UTC)
DAY_TICKS = (date(2026, 11, 23) - date(1, 1, 1)).days * 864_000_000_000
SPREAD = "XCME_Eq ES (Z26-H27)"
FRONT, BACK = "XCME_Eq ES (Z26)", "XCME_Eq ES (H27)"
FLY = "XNYM_En CL (F27-G27-H27)"
BUY, SELL = orderrouting_pb2.BUY_SELL_BUY, orderrouting_pb2.BUY_SELL_SELL


def _details(market_id: str, legs: list[tuple[str, int]], strategy_type: int = 1,
             point_value: str = "50") -> service_pb2.ServerMessage:
    message = service_pb2.ServerMessage()
    details = message.market_details
    details.market_id = market_id
    details.exchange_id, details.contract_id = market_id.split(" ")[0], market_id.split(" ")[1]
    details.point_value.value = point_value
    details.strategy_type = strategy_type
    for leg_market, volume in legs:
        details.legs.add(market_id=leg_market, volume=volume)
    return message


def _calendar() -> service_pb2.ServerMessage:
    return _details(SPREAD, [(FRONT, 1), (BACK, -1)])


def _order(uid: str = "s1", side: int = BUY, market: str = SPREAD,
           trades: list[tuple[str, int, str]] = (),  # type: ignore[assignment]
           legs: list[tuple[int, int, str]] = (),  # type: ignore[assignment]
           ) -> service_pb2.ServerMessage:
    """An order, with spread-level ``trades`` (trade id, volume, price) and
    ``legs`` (leg index, volume, price) of trade X1, in an OrderUpdateMulti."""
    message = service_pb2.ServerMessage()
    multi = message.order_update_multi
    multi.account_id, multi.market_id = "acc-1", market
    order = multi.updates.add().order_update
    order.unique_id, order.account_id, order.account_number = uid, "acc-1", "11111"
    order.market_id = market
    order.buy_sell = side  # type: ignore[assignment]
    for trade_id, volume, price in trades:
        trade = order.trades.add(sequence_order=1, exchange_trade_id=trade_id, volume=volume,
                                 trade_date=DAY_TICKS)
        trade.price.value = price
        trade.exchange_time.FromDatetime(WHEN)
    for index, volume, price in legs:
        leg = order.trade_legs.add(sequence_order=1, leg_index=index, exchange_trade_id="X1",
                                   volume=volume, trade_date=DAY_TICKS)
        leg.price.value = price
        leg.exchange_time.FromDatetime(WHEN)
    return message


def _live_leg(index: int, volume: int, price: str, uid: str = "s1", market: str = SPREAD,
              trade_id: str = "X1", **extra: Any) -> service_pb2.ServerMessage:
    message = service_pb2.ServerMessage()
    leg = message.order_update_multi.updates.add().order_update_trade_leg
    leg.unique_id, leg.account_id, leg.market_id = uid, "acc-1", market
    leg.leg_index, leg.volume, leg.exchange_trade_id = index, volume, trade_id
    leg.sequence_order, leg.trade_date = 1, DAY_TICKS
    leg.price.value = price
    leg.exchange_time.FromDatetime(WHEN)
    for key, value in extra.items():
        setattr(leg, key, value)
    return message


def _live_trade(volume: int, price: str, uid: str = "s1", trade_id: str = "X1"
                ) -> service_pb2.ServerMessage:
    message = service_pb2.ServerMessage()
    trade = message.order_update_multi.updates.add().order_update_trade
    trade.unique_id, trade.account_id, trade.market_id = uid, "acc-1", SPREAD
    trade.volume, trade.exchange_trade_id, trade.sequence_order = volume, trade_id, 1
    trade.trade_date = DAY_TICKS
    trade.price.value = price
    trade.exchange_time.FromDatetime(WHEN)
    return message


def _decoder() -> Decoder:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    return decoder


def _placed(fills: list[Fill]) -> list[tuple[Any, ...]]:
    return [(f.leg_index, f.kind, f.market_id, f.side, f.volume, f.price_text,
             f.spread_market_id, f.leg_sign, f.order_side) for f in fills]


@pytest.mark.parametrize(("side", "front", "back"), [
    (BUY, Side.BUY, Side.SELL), (SELL, Side.SELL, Side.BUY)])
def test_legs_take_their_own_contract_and_side_in_both_directions(
    side: int, front: Side, back: Side,
) -> None:
    decoder = _decoder()
    _decode(decoder, _calendar())
    order_side = Side.BUY if side == BUY else Side.SELL
    _decode(decoder, _order(side=side))
    fills = [_decode(decoder, _live_leg(0, 3, "6012.25"))[0][0],
             _decode(decoder, _live_leg(1, 3, "6040.50"))[0][0]]
    assert _placed(fills) == [
        (0, LEG, FRONT, front, 3, "6012.25", SPREAD, 1, order_side),
        (1, LEG, BACK, back, 3, "6040.50", SPREAD, -1, order_side),
    ]
    # The identity is the spread order's id and the leg index, as before.
    assert [f.key.order_id for f in fills] == ["s1", "s1"]
    assert [f.key.leg_index for f in fills] == [0, 1]


def test_ratio_and_direction_come_from_the_leg_volume_and_leg_volumes_stay_as_sent() -> None:
    decoder = _decoder()
    _decode(decoder, _details(FLY, [("XNYM_En CL (F27)", 1), ("XNYM_En CL (G27)", -2),
                                    ("XNYM_En CL (H27)", 1)], strategy_type=4))
    assert decoder.spreads.definitions[FLY] == SpreadDefinition(FLY, 4, (
        SpreadLeg("XNYM_En CL (F27)", 1, 1), SpreadLeg("XNYM_En CL (G27)", 2, -1),
        SpreadLeg("XNYM_En CL (H27)", 1, 1)))
    assert decoder.new_spreads == [decoder.spreads.definitions[FLY]]
    # A second copy (every snapshot repeats it) is nothing new.
    decoder.new_spreads.clear()
    _decode(decoder, _details(FLY, [("XNYM_En CL (F27)", 1), ("XNYM_En CL (G27)", -2),
                                    ("XNYM_En CL (H27)", 1)], strategy_type=4))
    assert decoder.new_spreads == []
    fills, _, _ = _decode(decoder, _order(side=SELL, market=FLY, legs=[
        (0, 1, "70.10"), (1, 2, "70.30"), (2, 1, "70.55")]))
    # One butterfly sold: the middle leg's volume 2 is its own, bought.
    assert [(f.market_id, f.side, f.volume) for f in fills] == [
        ("XNYM_En CL (F27)", Side.SELL, 1), ("XNYM_En CL (G27)", Side.BUY, 2),
        ("XNYM_En CL (H27)", Side.SELL, 1)]


def test_an_order_with_trades_and_trade_legs_gives_its_legs_and_one_marked_spread_trade() -> None:
    decoder = _decoder()
    _decode(decoder, _calendar())
    fills, _, _ = _decode(decoder, _order(trades=[("X1", 2, "-28.25")],
                                          legs=[(0, 2, "6012.25"), (1, 2, "6040.50")]))
    assert _placed(fills) == [
        (None, SPREAD_TRADE, SPREAD, Side.BUY, 2, "-28.25", None, None, None),
        (0, LEG, FRONT, Side.BUY, 2, "6012.25", SPREAD, 1, Side.BUY),
        (1, LEG, BACK, Side.SELL, 2, "6040.50", SPREAD, -1, Side.BUY),
    ]
    assert len({f.key for f in fills}) == 3


def test_a_live_spread_trade_is_marked_once_its_order_has_legs() -> None:
    decoder = _decoder()
    _decode(decoder, _calendar())
    _decode(decoder, _order())
    (first,), _, _ = _decode(decoder, _live_trade(1, "-28.25"))
    assert first.kind == OUTRIGHT  # no legs seen yet: the store marks it when they come
    _decode(decoder, _live_leg(0, 1, "6012.25"))
    (second,), _, _ = _decode(decoder, _live_trade(1, "-28.00", trade_id="X2"))
    assert second.kind == SPREAD_TRADE
    # A bust of it says so too: a bust may store a fill never seen.
    busted = _live_trade(1, "-28.00", trade_id="X2")
    busted.order_update_multi.updates[0].order_update_trade.change = (
        orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED)
    _, _, (bust,) = _decode(decoder, busted)
    assert bust.fill.kind == SPREAD_TRADE


def test_a_bust_of_a_leg_is_of_the_placed_leg() -> None:
    decoder = _decoder()
    _decode(decoder, _calendar())
    _decode(decoder, _order(side=SELL))
    (fill,), _, _ = _decode(decoder, _live_leg(1, 1, "6040.50"))
    _, _, (bust,) = _decode(decoder, _live_leg(
        1, 1, "6040.50", change=orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED))
    assert bust.fill == fill
    assert (bust.fill.market_id, bust.fill.side) == (BACK, Side.BUY)


def test_a_leg_beyond_its_definition_is_pending_not_guessed() -> None:
    decoder = _decoder()
    _decode(decoder, _calendar())
    _decode(decoder, _order())
    (fill,), _, _ = _decode(decoder, _live_leg(2, 1, "6080.00"))
    assert (fill.market_id, fill.side, fill.leg_sign, fill.order_side) == (
        SPREAD, None, None, Side.BUY)
    assert decoder.metrics["legs.beyond_definition"] == 1


@pytest.mark.parametrize("legs", [[(FRONT, 1), (BACK, 0)], [("", 1), (BACK, -1)]])
def test_an_unusable_definition_is_not_learned(legs: list[tuple[str, int]]) -> None:
    decoder = _decoder()
    _decode(decoder, _details(SPREAD, legs))
    assert decoder.spreads.definitions == {}
    assert decoder.metrics["spreads.invalid"] == 1
    # Its point value still counts.
    assert [m.point_value for m in decoder.new_markets] == [Decimal(50)]


def test_legs_are_learned_without_a_point_value() -> None:
    decoder = _decoder()
    _decode(decoder, _details(SPREAD, [(FRONT, 1), (BACK, -1)], point_value=""))
    assert list(decoder.spreads.definitions) == [SPREAD]
    assert decoder.new_markets == []


# --- through a real store --------------------------------------------------


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT order_id, trade_key, leg_index, kind, market_id, side, volume, price, "
            "spread_market_id, leg_sign, order_side FROM fills ORDER BY id").fetchall()


async def test_a_leg_before_its_definition_is_pending_and_placed_when_it_arrives(
    tmp_path: Path,
) -> None:
    db = tmp_path / "fills.db"
    decoder = _decoder()
    async with store_at(db) as store:
        await store.seed_registry([Owner("A", None, "11111")])
        # The order and its fill come before the spread's details (T4 may
        # describe a market after its first fills).
        fills, _, _ = _decode(decoder, _order(
            side=SELL, trades=[("X1", 2, "-28.25")],
            legs=[(0, 2, "6012.25"), (1, 2, "6040.50")]))
        assert await store.insert_fills(fills) == 3
        assert _rows(db) == [
            ("s1", "X1", -1, 2, SPREAD, "SELL", 2, "-28.25", None, None, None),
            ("s1", "X1", 0, 1, SPREAD, None, 2, "6012.25", SPREAD, None, "SELL"),
            ("s1", "X1", 1, 1, SPREAD, None, 2, "6040.50", SPREAD, None, "SELL"),
        ]
        pending = await summarize(store, FillQuery(user="A"))
        assert [(r.market_id, r.sells, r.buys, r.spread_legs) for r in pending] == [
            (SPREAD, 0, 0, 2)]
        # A leg of the order, live, before the definition too; then the definition.
        more, _, _ = _decode(decoder, _live_leg(0, 1, "6012.50", trade_id="X2"))
        await store.insert_fills(more)
        _decode(decoder, _calendar())
        assert decoder.new_spreads == [SpreadDefinition(SPREAD, 1, (
            SpreadLeg(FRONT, 1, 1), SpreadLeg(BACK, 1, -1)))]
        assert await store.save_spreads(decoder.new_spreads) == (1, 3)
        assert _rows(db) == [
            ("s1", "X1", -1, 2, SPREAD, "SELL", 2, "-28.25", None, None, None),
            ("s1", "X1", 0, 1, FRONT, "SELL", 2, "6012.25", SPREAD, 1, "SELL"),
            ("s1", "X1", 1, 1, BACK, "BUY", 2, "6040.50", SPREAD, -1, "SELL"),
            ("s1", "X2", 0, 1, FRONT, "SELL", 1, "6012.50", SPREAD, 1, "SELL"),
        ]
        assert await store.spreads() == {SPREAD: decoder.new_spreads[0]}
        # The same definition again changes nothing; the same fills again neither.
        assert await store.save_spreads(decoder.new_spreads) == (0, 0)
        assert await store.insert_fills(fills) == 0
        placed = await summarize(store, FillQuery(user="A"))
        assert [(r.market_id, r.buys, r.buy_volume, r.sells, r.sell_volume, r.net_position,
                 r.spread_legs) for r in placed] == [
            (BACK, 1, 2, 0, 0, 2, 0), (FRONT, 0, 0, 2, 3, -3, 0)]


async def test_a_late_order_side_gives_each_placed_leg_its_own(tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    decoder = _decoder()
    async with store_at(db) as store:
        _decode(decoder, _calendar())
        # Leg fills before their order: placed, but no side yet.
        fills = [_decode(decoder, _live_leg(i, 1, price))[0][0]
                 for i, price in ((0, "6012.25"), (1, "6040.50"))]
        assert [(f.market_id, f.side, f.leg_sign) for f in fills] == [
            (FRONT, None, 1), (BACK, None, -1)]
        await store.insert_fills(fills)
        assert await store.sideless_orders() == {("SIMFIRM", "acc-1", "s1")}
        _, sides, _ = _decode(decoder, _order(side=SELL))
        assert sides == [OrderSide("SIMFIRM", "acc-1", "s1", Side.SELL)]
        assert await store.resolve_sides(sides) == 2
        assert [row[4:6] + row[9:] for row in _rows(db)] == [
            (FRONT, "SELL", 1, "SELL"), (BACK, "BUY", -1, "SELL")]
        assert await store.sideless_orders() == set()


async def test_a_spread_trade_stored_before_its_legs_is_marked_when_they_come(
    tmp_path: Path,
) -> None:
    db = tmp_path / "fills.db"
    decoder = _decoder()
    async with store_at(db) as store:
        _decode(decoder, _calendar())
        _decode(decoder, _order())
        await store.insert_fills(_decode(decoder, _live_trade(1, "-28.25"))[0])
        assert [row[3] for row in _rows(db)] == [OUTRIGHT]
        await store.insert_fills(_decode(decoder, _live_leg(0, 1, "6012.25"))[0]
                                 + _decode(decoder, _live_leg(1, 1, "6040.50"))[0])
        assert [row[2:4] for row in _rows(db)] == [(-1, SPREAD_TRADE), (0, LEG), (1, LEG)]
