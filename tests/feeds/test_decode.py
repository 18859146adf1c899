"""The t4 normalizer on hand-built protobuf messages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import account_pb2, orderrouting_pb2, service_pb2
from fillcapture.feeds.t4.tradedate import trade_date_of
from fillcapture.metrics import Metrics
from fillcapture.model import LEG, SPREAD_TRADE, Bust, Fill, Market, OrderSide, Side

TICKS_PER_DAY = 864_000_000_000
WHEN = datetime(2026, 11, 23, 15, 30, 1, 123456, tzinfo=UTC)


def _ticks(day: date) -> int:
    return (day - date(1, 1, 1)).days * TICKS_PER_DAY


def _trade(uid: str = "o1", trade_id: str = "T1", price: str = "6012.25", volume: int = 2,
           **extra: object) -> service_pb2.ServerMessage:
    message = service_pb2.ServerMessage()
    trade = message.order_update_trade
    trade.unique_id = uid
    trade.account_id = "acc-1"
    trade.market_id = "XCME_Eq ES (Z26)"
    trade.exchange_trade_id = trade_id
    trade.volume = volume
    trade.price.value = price
    trade.exchange_time.FromDatetime(WHEN)
    trade.trade_date = _ticks(date(2026, 11, 23))
    trade.sequence_order = 1
    for key, value in extra.items():
        setattr(trade, key, value)
    return message


def _order(uid: str = "o1", side: int = orderrouting_pb2.BUY_SELL_SELL
           ) -> service_pb2.ServerMessage:
    message = service_pb2.ServerMessage()
    order = message.order_update
    order.unique_id = uid
    order.account_id = "acc-1"
    order.account_number = "11111"
    order.market_id = "XCME_Eq ES (Z26)"
    order.buy_sell = side  # type: ignore[assignment]
    return message


def _decode_all(decoder: Decoder, message: service_pb2.ServerMessage
                ) -> tuple[list[Fill], list[OrderSide], list[Bust]]:
    fills: list[Fill] = []
    sides: list[OrderSide] = []
    busts: list[Bust] = []
    kind = message.WhichOneof("payload")
    assert kind is not None
    decoder.handle(kind, service_pb2.ServerMessage.FromString(message.SerializeToString()),
                   fills, sides, busts)
    return fills, sides, busts


def _decode(decoder: Decoder, message: service_pb2.ServerMessage
            ) -> tuple[list[Fill], list[OrderSide]]:
    fills, sides, _ = _decode_all(decoder, message)
    return fills, sides


def test_fill_takes_side_from_its_order_and_keeps_price_text() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    _decode(decoder, _order())
    fills, _ = _decode(decoder, _trade(price="6012.250"))
    (fill,) = fills
    assert fill.side is Side.SELL
    assert fill.price == Decimal("6012.25")
    assert fill.price_text == "6012.250"
    assert fill.account == "11111"
    assert fill.exchange_time == WHEN
    assert fill.trade_date == date(2026, 11, 23)
    assert fill.key.trade_key == "T1"


def test_fill_before_its_order_is_sideless_then_resolved() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    fills, _ = _decode(decoder, _trade())
    assert fills[0].side is None
    _, sides = _decode(decoder, _order(side=orderrouting_pb2.BUY_SELL_BUY))
    assert sides == [OrderSide("SIMFIRM", "acc-1", "o1", Side.BUY)]
    # A second copy of the order resolves nothing more.
    assert _decode(decoder, _order(side=orderrouting_pb2.BUY_SELL_BUY))[1] == []


@pytest.mark.parametrize("message", [
    _trade(price="abc"), _trade(price="NaN"), _trade(price="1e5"), _trade(price="1_000"),
    _trade(price=" 1.5"), _trade(price="\u0661\u0662"), _trade(price=""), _trade(volume=0),
    _trade(volume=-3), _trade(uid=""), _trade(trade_id="", sequence_order=0),
    _trade(account_id=""),
], ids=lambda m: str(m).replace("\n", " ")[:60])
def test_nonsense_fills_are_quarantined_whole(message: service_pb2.ServerMessage) -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    fills, _ = _decode(decoder, message)
    assert fills == []
    (kept,) = decoder.quarantined
    assert kept.reason in {"invalid_price", "invalid_volume", "missing_id"}
    assert decoder.metrics[f"quarantined.{kept.reason}"] == 1
    # The kept bytes are the record itself: decoding them again gives it back.
    again = service_pb2.ServerMessage.FromString(kept.raw)
    assert again.order_update_trade == message.order_update_trade


@pytest.mark.parametrize("seconds", [0, -5, 4_200_000_000, 2**62])
def test_fill_times_out_of_range_are_quarantined(seconds: int) -> None:
    message = _trade()
    message.order_update_trade.exchange_time.seconds = seconds
    message.order_update_trade.time.seconds = seconds
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    assert _decode(decoder, message)[0] == []
    assert [(q.reason, "out of range" in q.detail) for q in decoder.quarantined] == [
        ("invalid_time", True)]


def test_one_nonsense_fill_is_quarantined_and_the_rest_of_its_snapshot_kept() -> None:
    message = service_pb2.ServerMessage()
    snap = message.account_snapshot
    snap.account_id = "acc-9"
    multi = snap.messages.add().order_update_multi
    multi.historical = True
    order = multi.updates.add().order_update
    order.unique_id = "o9"
    order.account_number = "99999"  # ids left empty: the block's
    order.buy_sell = orderrouting_pb2.BUY_SELL_BUY
    for n, volume in ((1, 1), (2, -1), (3, 4)):
        trade = order.trades.add(sequence_order=n, exchange_trade_id=f"X{n}", volume=volume)
        trade.price.value = "70.41"
        trade.exchange_time.FromDatetime(WHEN)
    decoder = Decoder("SIMFIRM", Metrics())
    fills, _ = _decode(decoder, message)
    assert [(f.account_id, f.account, f.exchange_trade_id) for f in fills] == [
        ("acc-9", "99999", "X1"), ("acc-9", "99999", "X3")]
    (kept,) = decoder.quarantined
    assert (kept.reason, kept.account_id, kept.account, kept.order_id, kept.side) == (
        "invalid_volume", "acc-9", "99999", "o9", Side.BUY)
    # The smallest enclosing record: the order with just the bad trade, in its block.
    again = service_pb2.ServerMessage.FromString(kept.raw).order_update_multi
    assert (again.account_id, again.historical) == ("acc-9", True)
    (update,) = again.updates
    assert [t.exchange_trade_id for t in update.order_update.trades] == ["X2"]


def test_a_fill_of_an_account_not_known_yet_is_quarantined() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    assert _decode(decoder, _trade())[0] == []
    assert [q.reason for q in decoder.quarantined] == ["unknown_account"]


def test_account_details_give_the_code_never_the_number() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    message = service_pb2.ServerMessage()
    details = message.account_details
    details.account_id = "acc-1"
    details.account = "jsmith01"
    details.account_name = "J Smith"
    _decode(decoder, message)
    assert decoder.account("acc-1").account == "11111"
    assert (decoder.account("acc-1").code, decoder.account("acc-1").name) == (
        "jsmith01", "J Smith")
    (fill,), _ = _decode(decoder, _trade())
    assert fill.account == "11111"


def test_conflicting_account_numbers_are_refused_and_counted() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    decoder.learn_account("acc-1", "99999")  # the id's number changes
    decoder.learn_account("acc-2", "11111")  # the number on a second id
    assert decoder.accounts == {"acc-1": "11111"}
    assert decoder.metrics["accounts.conflicts"] == 2
    assert decoder.conflicts == [("acc-1", "99999"), ("acc-2", "11111")]


def test_trade_key_falls_back_to_sequence_order() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    (fill,), _ = _decode(decoder, _trade(trade_id="", sequence_order=4))
    assert fill.key.trade_key == "#4"


def test_snapshot_carries_account_numbers_and_historical_trades() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    message = service_pb2.ServerMessage()
    snap = message.account_snapshot
    snap.account_id = "acc-9"
    details = snap.messages.add().account_details
    details.account_id = "acc-9"
    details.account = "99999"
    multi = snap.messages.add().order_update_multi
    multi.historical = True
    order = multi.updates.add().order_update
    order.unique_id = "o9"
    order.account_id = "acc-9"
    order.account_number = "99999"
    order.market_id = "XNYM_En CL (F27)"
    order.buy_sell = orderrouting_pb2.BUY_SELL_BUY
    for n in (1, 2):
        trade = order.trades.add()
        trade.sequence_order = n
        trade.exchange_trade_id = f"X{n}"
        trade.volume = n
        trade.price.value = "70.41"
        trade.exchange_time.FromDatetime(WHEN)
        trade.trade_date = _ticks(date(2026, 11, 23))
    leg = order.trade_legs.add()
    leg.sequence_order = 1
    leg.leg_index = 1
    leg.exchange_trade_id = "X1"
    leg.volume = 1
    leg.price.value = "-0.05"
    leg.exchange_time.FromDatetime(WHEN)
    fills, _ = _decode(decoder, message)
    # An order with legs is a spread order: its trades are spread-level
    # trades, and its leg (of a spread not defined yet) is pending: no side of
    # its own yet, the order's kept.
    assert [(f.account, f.exchange_trade_id, f.leg_index, f.side, f.order_side, f.kind,
             f.historical) for f in fills] == [
        ("99999", "X1", None, Side.BUY, None, SPREAD_TRADE, True),
        ("99999", "X2", None, Side.BUY, None, SPREAD_TRADE, True),
        ("99999", "X1", 1, None, Side.BUY, LEG, True),
    ]
    assert len({f.key for f in fills}) == 3


def test_trade_date_ticks_or_cme_rule() -> None:
    assert trade_date_of(_ticks(date(2026, 11, 20)), WHEN) == date(2026, 11, 20)
    # Not ticks: 17:30 Chicago on a Friday trades for Monday.
    friday_evening = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert trade_date_of(0, friday_evening) == date(2026, 11, 23)
    assert trade_date_of(20261120, friday_evening) == date(2026, 11, 23)


def test_subscribe_message_round_trips() -> None:
    request = account_pb2.AccountSubscribe(
        subscribe=account_pb2.ACCOUNT_SUBSCRIBE_TYPE_ALL_UPDATES, subscribe_all_accounts=True,
        upl_mode=account_pb2.UPL_MODE_AVERAGE)
    wire = service_pb2.ClientMessage(account_subscribe=request).SerializeToString()
    # Field 200, length-delimited: tag varint 0xC2 0x0C.
    assert wire[:2] == b"\xc2\x0c"


def test_live_leg_fill_of_an_undefined_spread_is_pending_with_the_order_side() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    _decode(decoder, _order(side=orderrouting_pb2.BUY_SELL_BUY))
    message = service_pb2.ServerMessage()
    leg = message.order_update_trade_leg
    leg.unique_id = "o1"
    leg.account_id = "acc-1"
    leg.market_id = "XCME_Eq ES (H27)"
    leg.leg_index = 2
    leg.exchange_trade_id = "T1"
    leg.volume = 1
    leg.price.value = "6050.50"
    leg.exchange_time.FromDatetime(WHEN)
    (fill,), _ = _decode(decoder, message)
    # No definition of the spread market yet: pending (tests/feeds/test_decode_legs.py).
    assert (fill.leg_index, fill.side, fill.order_side, fill.market_id, fill.leg_sign) == (
        2, None, Side.BUY, "XCME_Eq ES (H27)", None)
    assert fill.key != _decode(decoder, _trade())[0][0].key  # the outright fill T1 differs


def test_a_bust_carries_the_busted_fill_and_its_own_time() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    _decode(decoder, _order())
    (fill,), _ = _decode(decoder, _trade())
    bust_time = datetime(2026, 11, 23, 16, 0, 0, 250000, tzinfo=UTC)
    busted = _trade(change=orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED)
    busted.order_update_trade.time.FromDatetime(bust_time)
    fills, _, busts = _decode_all(decoder, busted)
    assert fills == []
    assert busts == [Bust(fill, bust_time)]


def test_a_bust_of_a_leg_fill_names_the_leg() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    message = service_pb2.ServerMessage()
    leg = message.order_update_trade_leg
    leg.unique_id, leg.account_id, leg.leg_index = "o1", "acc-1", 1
    leg.exchange_trade_id, leg.volume = "T1", 1
    leg.price.value = "-0.25"
    leg.exchange_time.FromDatetime(WHEN)
    leg.change = orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED
    _, _, (bust,) = _decode_all(decoder, message)
    assert bust.fill.key.leg_index == 1
    assert bust.fill.side is None  # its order not seen yet: resolved later like any fill


def test_remembered_orders_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import fillcapture.feeds.t4.decode as decode

    monkeypatch.setattr(decode, "MAX_ORDERS", 3)
    decoder = Decoder("SIMFIRM", Metrics())
    for n in range(5):
        _decode(decoder, _order(uid=f"o{n}"))
    assert list(decoder.sides) == ["o2", "o3", "o4"]
    for n in range(5):
        _decode(decoder, _trade(uid=f"x{n}", trade_id=f"X{n}"))
    assert list(decoder.sideless) == ["x2", "x3", "x4"]


def _market_details(market_id: str, point_value: str) -> service_pb2.ServerMessage:
    message = service_pb2.ServerMessage()
    details = message.market_details
    details.market_id = market_id
    details.exchange_id = "XCME_Eq"
    details.contract_id = "ES"
    details.point_value.value = point_value
    return message


def test_market_details_live_are_learned_once_and_again_when_changed() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    _decode(decoder, _market_details("XCME_Eq ES (Z26)", "50"))
    assert decoder.new_markets == [Market("XCME_Eq ES (Z26)", "XCME_Eq", "ES", Decimal(50))]
    decoder.new_markets.clear()
    _decode(decoder, _market_details("XCME_Eq ES (Z26)", "50"))
    assert decoder.new_markets == []  # nothing new to report
    _decode(decoder, _market_details("XCME_Eq ES (Z26)", "50.0"))
    assert decoder.new_markets == []  # the same value, written otherwise
    _decode(decoder, _market_details("XCME_Eq ES (Z26)", "12.5"))
    assert [m.point_value for m in decoder.new_markets] == [Decimal("12.5")]


def test_market_details_in_a_snapshot_beside_its_fills() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    message = service_pb2.ServerMessage()
    snap = message.account_snapshot
    snap.account_id = "acc-1"
    item = snap.messages.add().market_details
    item.market_id = "XNYM_En CL (F27)"
    item.exchange_id = "XNYM_En"
    item.contract_id = "CL"
    item.point_value.value = "1000"
    multi = snap.messages.add().order_update_multi
    multi.updates.add().order_update_trade.CopyFrom(_trade().order_update_trade)
    fills, _ = _decode(decoder, message)
    assert len(fills) == 1
    assert decoder.new_markets == [Market("XNYM_En CL (F27)", "XNYM_En", "CL", Decimal(1000))]


@pytest.mark.parametrize("point_value", ["fifty", "0", "-50", "1e3", "NaN"])
def test_a_bad_point_value_is_skipped_alone(point_value: str) -> None:
    metrics = Metrics()
    decoder = Decoder("SIMFIRM", metrics)
    decoder.learn_account("acc-1", "11111")
    message = service_pb2.ServerMessage()
    snap = message.account_snapshot
    item = snap.messages.add().market_details
    item.market_id = "XCME_Eq ES (Z26)"
    item.point_value.value = point_value
    multi = snap.messages.add().order_update_multi
    multi.updates.add().order_update_trade.CopyFrom(_trade().order_update_trade)
    fills, _ = _decode(decoder, message)
    assert len(fills) == 1  # the frame's fills stand
    assert decoder.new_markets == []
    assert metrics["markets.invalid"] == 1


def _busted_order(*trades: tuple[str, int], legs: bool = False) -> service_pb2.ServerMessage:
    message = _order(side=orderrouting_pb2.BUY_SELL_BUY)
    order = message.order_update
    order.change = orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED
    order.time.FromDatetime(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    for trade_id, volume in trades:
        entry = order.trade_legs.add(leg_index=1) if legs else order.trades.add()
        entry.exchange_trade_id = trade_id
        entry.volume = volume
        entry.price.value = "6000.25"
        entry.exchange_time.FromDatetime(WHEN)
    return message


def test_an_order_update_busted_busts_the_trade_it_names() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    fills, _, busts = _decode_all(decoder, _busted_order(("T7", 2)))
    assert fills == []
    (bust,) = busts
    assert (bust.fill.exchange_trade_id, bust.fill.side, bust.fill.volume) == ("T7", Side.BUY, 2)
    assert bust.busted_at == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("volume", [0, -2])
def test_a_bust_with_no_or_negative_volume_is_accepted(volume: int) -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    _, _, (bust,) = _decode_all(decoder, _busted_order(("T7", volume)))
    assert bust.fill.volume == volume
    live = _trade(volume=volume)
    live.order_update_trade.change = orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED
    _, _, (bust,) = _decode_all(decoder, live)
    assert bust.fill.exchange_trade_id == "T1"
    assert decoder.quarantined == []


def test_a_busted_leg_on_an_order_update_busts_that_leg() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    _, _, (bust,) = _decode_all(decoder, _busted_order(("T8", 1), legs=True))
    assert bust.fill.key.leg_index == 1


def test_a_bust_naming_no_trade_waits_for_a_complete_snapshot_of_its_order() -> None:
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    assert _decode_all(decoder, _busted_order())[2] == []
    assert [q.reason for q in decoder.quarantined] == ["bust_unresolved"]
    # A live update that carries no trades names nothing busted.
    assert _decode_all(decoder, _order())[0] == []
    assert decoder.recounts == []

    def snapshot(total: int, *trades: tuple[str, int]) -> service_pb2.ServerMessage:
        message = service_pb2.ServerMessage()
        multi = message.account_snapshot.messages.add().order_update_multi
        multi.historical = True
        order = multi.updates.add().order_update
        order.CopyFrom(_order().order_update)
        order.change = orderrouting_pb2.ORDER_CHANGE_TRADE
        order.total_fill_volume = total
        for trade_id, volume in trades:
            entry = order.trades.add(exchange_trade_id=trade_id, volume=volume)
            entry.price.value = "6000.25"
            entry.exchange_time.FromDatetime(WHEN)
        return message

    _decode_all(decoder, snapshot(3, ("T1", 1)))  # not the whole list: 1 of 3
    assert decoder.recounts == []
    _decode_all(decoder, snapshot(1, ("T1", 1)))
    (recount,) = decoder.recounts
    assert (recount.order_id, recount.trades) == ("o1", frozenset({("T1", None)}))
    assert decoder.unresolved_busts == {}
